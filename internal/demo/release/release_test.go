package release

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/demo/standin"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/pgtest"
	"github.com/carto-setup/carto-setup/internal/selfsigned"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

func TestWrite(t *testing.T) {
	tests := []struct {
		name, version, wantVersion string
		wantErr                    bool
	}{
		{name: "default version", version: "", wantVersion: "2026.8.11\n"},
		{name: "release candidate", version: "2026.8.11-rc.7", wantVersion: "2026.8.11-rc.7\n"},
		{name: "bad version", version: "latest", wantErr: true},
		{name: "version with newline", version: "2026.8.11\nX=1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "carto-selfhosted")
			err := Write(dir, tt.version)
			if tt.wantErr {
				if err == nil {
					t.Fatal("Write succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []struct {
				name string
				mode os.FileMode
			}{
				{"docker-compose.yml", 0o644}, {"env.tpl", 0o644}, {"VERSION", 0o644},
				{"MIN_VERSION", 0o644}, {"install.sh", 0o755},
			} {
				fi, err := os.Stat(filepath.Join(dir, f.name))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != f.mode {
					t.Errorf("%s has mode %o, want %o", f.name, fi.Mode().Perm(), f.mode)
				}
			}
			got, _ := os.ReadFile(filepath.Join(dir, "VERSION"))
			if string(got) != tt.wantVersion {
				t.Errorf("VERSION = %q, want %q", got, tt.wantVersion)
			}
		})
	}
}

// TestComposeFileShape checks the compose file against carto-facts §4: the
// same service names, and every service reading .env.
func TestComposeFileShape(t *testing.T) {
	data, err := files.ReadFile("files/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	if !strings.Contains(text, "version: \"2.4\"\n") {
		t.Error(`docker-compose.yml is not version: "2.4"`)
	}
	got := composeServices(t, text)
	if want := standin.Services(); !slices.Equal(got, want) {
		t.Errorf("compose services %v\nwant (the stand-in's) %v", got, want)
	}
	if n := strings.Count(text, "env_file:\n      - .env\n"); n != len(got) {
		t.Errorf("%d services read .env, want %d", n, len(got))
	}
	for _, want := range []string{
		`"${ROUTER_HTTP_PORT:-80}:8080"`, `"${ROUTER_HTTPS_PORT:-443}:8443"`, `"${ROUTER_METRICS_PORT:-5447}:5447"`,
		"certs:/etc/nginx/ssl:ro", "certs:/usr/src/certs:ro",
		"scale: ${LOCAL_POSTGRES_SCALE}", "scale: ${LOCAL_REDIS_SCALE}", "image: ${WORKSPACE_API_DOCKER_IMAGE}",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("docker-compose.yml lacks %q", want)
		}
	}
}

// uncommented returns the keys of a .env-style text that are set on
// uncommented lines.
func uncommented(text string) map[string]string {
	keys := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			keys[k] = v
		}
	}
	return keys
}

func TestSampleCustomerEnv(t *testing.T) {
	text := string(SampleCustomerEnv("carto.example.com"))
	keys := uncommented(text)
	// carto-facts §3.0: what customer.env must define.
	for _, k := range []string{
		"SELFHOSTED_DOMAIN", "SELFHOSTED_TENANT_ID", "SELFHOSTED_GCP_PROJECT_ID",
		"CARTO_AUTH0_CLIENT_ID", "CARTO_AUTH0_CUSTOM_DOMAIN",
		"ACC_DOMAIN", "ACC_GCP_PROJECT_ID", "ACC_GCP_PROJECT_REGION",
		"DO_API_DOMAIN", "DO_ASSETS_DOMAIN",
		"LOCAL_POSTGRES_SCALE", "LOCAL_REDIS_SCALE", "POSTGRES_ADMIN_USER", "POSTGRES_ADMIN_PASSWORD",
		"CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION",
	} {
		if keys[k] == "" {
			t.Errorf("%s is not set", k)
		}
	}
	if keys["SELFHOSTED_DOMAIN"] != "carto.example.com" || keys["LOCAL_POSTGRES_SCALE"] != "1" ||
		keys["WORKSPACE_POSTGRES_HOST"] != "workspace-postgres" {
		t.Errorf("local block not active: domain %q scale %q host %q",
			keys["SELFHOSTED_DOMAIN"], keys["LOCAL_POSTGRES_SCALE"], keys["WORKSPACE_POSTGRES_HOST"])
	}
	for _, line := range []string{"# LOCAL_POSTGRES_SCALE=0", "# WORKSPACE_POSTGRES_HOST=<FILL_ME>", "# POSTGRES_ADMIN_PASSWORD=<FILL_ME>"} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("external block lacks the commented line %q", line)
		}
	}
	if other := string(SampleCustomerEnv("carto.example.com")); uncommented(other)["POSTGRES_ADMIN_PASSWORD"] == keys["POSTGRES_ADMIN_PASSWORD"] {
		t.Error("two samples share a password")
	}
}

func TestSampleKeyJSON(t *testing.T) {
	data, err := SampleKeyJSON()
	if err != nil {
		t.Fatal(err)
	}
	var key map[string]string
	if err := json.Unmarshal(data, &key); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"type", "project_id", "private_key_id", "private_key", "client_email", "client_id", "token_uri"} {
		if key[k] == "" {
			t.Errorf("%s is empty", k)
		}
	}
	if key["type"] != "service_account" || key["client_email"] != SampleClientEmail {
		t.Errorf("type %q client_email %q", key["type"], key["client_email"])
	}
	block, _ := pem.Decode([]byte(key["private_key"]))
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("private_key is not a PEM PRIVATE KEY")
	}
	pk, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := pk.(*rsa.PrivateKey); !ok {
		t.Errorf("private key is %T, want RSA", pk)
	}
}

// stepB is carto-facts §2 step B written out in Go, to check install.sh
// against the specification byte for byte.
func stepB(customerEnv, version, envTpl []byte) []byte {
	customerEnv = regexp.MustCompile(`(?m)^POSTGRES_PASSWORD`).ReplaceAll(customerEnv, []byte("POSTGRES_ADMIN_PASSWORD"))
	var b bytes.Buffer
	b.Write(customerEnv)
	b.WriteString("\n")
	b.WriteString("# " + strings.Repeat("<", 31) + " CARTO VERSION " + strings.Repeat("<", 32) + "\n")
	b.WriteString("\n")
	b.WriteString("CARTO_SELFHOSTED_VERSION=" + strings.TrimRight(string(version), "\n") + "\n")
	b.WriteString("\n")
	b.WriteString("# " + strings.Repeat(">", 78) + "\n")
	b.WriteString("\n")
	b.Write(envTpl)
	return b.Bytes()
}

func TestInstallShStepB(t *testing.T) {
	bash := testenv.LookPath(t, "bash", "apt-get install bash")
	tests := []struct {
		name        string
		customerEnv string
		wantInEnv   string
	}{
		{"sample", string(SampleCustomerEnv("carto.example.com")), "SELFHOSTED_DOMAIN=carto.example.com\n"},
		{"legacy password name, no final newline", "A=1\nPOSTGRES_PASSWORD='x'", "POSTGRES_ADMIN_PASSWORD='x'\n# <<<"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := Write(dir, ""); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, "customer.env"), []byte(tt.customerEnv), 0o600)
			os.WriteFile(filepath.Join(dir, "key.json"), []byte(`{"type":"service_account"}`), 0o600)
			cmd := exec.Command(bash, "install.sh", "--ignore-checks")
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("install.sh: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "[INFO]: File .env successfully created\n[INFO]: Script finished, run docker-compose up -d\n") {
				t.Errorf("install.sh output:\n%s", out)
			}
			got, _ := os.ReadFile(filepath.Join(dir, ".env"))
			version, _ := os.ReadFile(filepath.Join(dir, "VERSION"))
			tpl, _ := os.ReadFile(filepath.Join(dir, "env.tpl"))
			if want := stepB([]byte(tt.customerEnv), version, tpl); !bytes.Equal(got, want) {
				t.Errorf(".env differs from step B:\ngot:\n%s\nwant:\n%s", got, want)
			}
			if !strings.Contains(string(got), tt.wantInEnv) {
				t.Errorf(".env lacks %q", tt.wantInEnv)
			}
			if key, err := os.ReadFile(filepath.Join(dir, "certs", "key.json")); err != nil || !strings.Contains(string(key), "service_account") {
				t.Errorf("certs/key.json not copied: %v", err)
			}
		})
	}
	t.Run("unknown argument", func(t *testing.T) {
		dir := t.TempDir()
		Write(dir, "")
		cmd := exec.Command(bash, "install.sh", "--bogus")
		cmd.Dir = dir
		if err := cmd.Run(); err == nil {
			t.Error("install.sh --bogus exited 0")
		}
	})
}

// setKey replaces the value of the first uncommented KEY= line, or appends
// the line.
func setKey(text, key, value string) string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, key+"=") {
			lines[i] = key + "=" + value
			return strings.Join(lines, "\n")
		}
	}
	return text + key + "=" + value + "\n"
}

// containerState is what the test reads of one compose container.
type containerState struct {
	service, status string
	exitCode        int
	restarts        int
}

// composeStates lists the project's containers through the docker CLI.
func composeStates(ctx context.Context, t *testing.T, project string) map[string]containerState {
	t.Helper()
	ids, err := exec.CommandContext(ctx, "docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+project).Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	states := map[string]containerState{}
	if len(bytes.TrimSpace(ids)) == 0 {
		return states
	}
	args := append([]string{"inspect", "--format",
		`{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}`},
		strings.Fields(string(ids))...)
	out, err := exec.CommandContext(ctx, "docker", args...).Output()
	if err != nil {
		// A container may vanish between ps and inspect; try again later.
		return states
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 {
			continue
		}
		code, _ := strconv.Atoi(f[2])
		restarts, _ := strconv.Atoi(f[3])
		states[f[0]] = containerState{service: f[0], status: f[1], exitCode: code, restarts: restarts}
	}
	return states
}

// TestStack deploys the stand-in release with docker-compose against a
// real PostgreSQL (TLS, verified with a CA in certs/) and checks that it
// settles as CARTO's does: every service running, workspace-migrations
// exited 0, HTTPS through the router.
func TestStack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	eng, err := engine.New(ctx)
	if err != nil {
		testenv.Missing(t, "Docker Engine", "install Docker Engine 20.10+ and start it: "+err.Error())
	}
	t.Cleanup(func() { eng.Close() })
	testenv.LookPath(t, "docker", "apt-get install docker.io")
	compose := testenv.LookPath(t, "docker-compose", "apt-get install docker-compose")
	bash := testenv.LookPath(t, "bash", "apt-get install bash")

	// The Docker bridge address is where containers reach the host.
	const bridge = "172.17.0.1"
	pg := pgtest.Start(t, pgtest.Options{TLS: true, ListenAddrs: []string{bridge}, CertHosts: []string{bridge}})

	suffix := make([]byte, 4)
	rand.Read(suffix)
	id := hex.EncodeToString(suffix)
	version := "2026.8.11-test." + id
	project := "standintest" + id
	domain := "carto.standin.test"

	// Build the stand-in executable and its image.
	start := time.Now()
	work := t.TempDir()
	bin := filepath.Join(work, "carto-setup")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "github.com/carto-setup/carto-setup/internal/demo/standin/testdata/standinmain")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("%s: built the stand-in executable", time.Since(start).Round(time.Millisecond))
	var progress bytes.Buffer
	if err := BuildImages(ctx, eng, bin, version, &progress); err != nil {
		t.Fatalf("BuildImages: %v\n%s", err, progress.String())
	}
	t.Cleanup(func() {
		if err := RemoveImages(context.Background(), eng, version); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})

	t.Logf("%s: built images %s", time.Since(start).Round(time.Millisecond), strings.Join(ImageTags(version), ", "))

	// Write the release and the customer package, as an admin following
	// CARTO's docs would: files unzipped or copied with the usual umask,
	// so 0644 (install.sh copies key.json with its mode). The images run as
	// uids 101 and 1000, so owner-only files would not do here.
	dir := filepath.Join(work, "carto-selfhosted")
	if err := Write(dir, version); err != nil {
		t.Fatal(err)
	}
	certs := filepath.Join(dir, "certs")
	os.MkdirAll(certs, 0o755)
	certPEM, keyPEM, err := selfsigned.Generate(selfsigned.Request{CommonName: domain, DNSNames: []string{domain}, NotBefore: time.Now(), Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"router.crt": certPEM, "router.key": keyPEM, "postgresql-ssl-ca.crt": pg.CAPEM} {
		if err := os.WriteFile(filepath.Join(certs, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := string(SampleCustomerEnv(domain))
	for k, v := range map[string]string{
		"LOCAL_POSTGRES_SCALE":            "0",
		"WORKSPACE_POSTGRES_HOST":         bridge,
		"WORKSPACE_POSTGRES_PORT":         strconv.Itoa(pg.Port),
		"WORKSPACE_POSTGRES_SSL_ENABLED":  "true",
		"WORKSPACE_POSTGRES_SSL_MODE":     "verify-full",
		"WORKSPACE_POSTGRES_SSL_CA":       "/usr/src/certs/postgresql-ssl-ca.crt",
		"POSTGRES_ADMIN_USER":             pg.User,
		"POSTGRES_ADMIN_PASSWORD":         "'" + pg.Password + "'",
		"ROUTER_SSL_AUTOGENERATE":         "0",
		"ROUTER_SSL_CERTIFICATE_PATH":     "/etc/nginx/ssl/router.crt",
		"ROUTER_SSL_CERTIFICATE_KEY_PATH": "/etc/nginx/ssl/router.key",
	} {
		env = setKey(env, k, v)
	}
	keyJSON, err := SampleKeyJSON()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "customer.env"), []byte(env), 0o644)
	os.WriteFile(filepath.Join(dir, "key.json"), keyJSON, 0o644)
	install := exec.CommandContext(ctx, bash, "install.sh")
	install.Dir = dir
	out, err := install.CombinedOutput()
	if err != nil || strings.Contains(string(out), "[ERROR]") {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}

	// Bring the stack up on free host ports.
	httpPort, httpsPort, metricsPort := testenv.FreePortAll(t), testenv.FreePortAll(t), testenv.FreePortAll(t)
	composeEnv := append(os.Environ(),
		"ROUTER_HTTP_PORT="+strconv.Itoa(httpPort),
		"ROUTER_HTTPS_PORT="+strconv.Itoa(httpsPort),
		"ROUTER_METRICS_PORT="+strconv.Itoa(metricsPort),
		"WORKSPACE_MIGRATIONS_MAX_RETRIES=2",
	)
	run := func(ctx context.Context, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, compose, append([]string{"-p", project}, args...)...)
		cmd.Dir = dir
		cmd.Env = composeEnv
		return cmd.CombinedOutput()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// Docker 20.10 may refuse to remove the network while the endpoint
		// of a container it has just removed is still being released.
		var out []byte
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			if out, err = run(ctx, "down", "-v", "--remove-orphans", "-t", "5"); err == nil || !strings.Contains(string(out), "active endpoints") {
				break
			}
			time.Sleep(time.Second)
		}
		if err != nil {
			t.Errorf("docker-compose down: %v\n%s", err, out)
		}
	})
	if out, err := run(ctx, "up", "-d"); err != nil {
		t.Fatalf("docker-compose up: %v\n%s", err, out)
	}
	t.Logf("%s: docker-compose up -d returned", time.Since(start).Round(time.Millisecond))
	logs := func(service string) string {
		out, _ := run(context.Background(), "logs", "--no-color", service)
		return string(out)
	}

	// Wait for workspace-migrations to finish and everything else to run.
	want := slices.DeleteFunc(standin.Services(), func(s string) bool { return s == "workspace-postgres" })
	deadline := time.Now().Add(3 * time.Minute)
	var states map[string]containerState
	for {
		states = composeStates(ctx, t, project)
		settled := len(states) == len(want)
		for _, s := range want {
			st := states[s]
			if s == "workspace-migrations" {
				settled = settled && st.status == "exited"
			} else {
				settled = settled && st.status == "running"
			}
		}
		if settled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stack did not settle: %+v\nmigrations logs:\n%s", states, logs("workspace-migrations"))
		}
		time.Sleep(time.Second)
	}
	t.Logf("%s: the stack settled", time.Since(start).Round(time.Millisecond))
	if _, ok := states["workspace-postgres"]; ok {
		t.Error("workspace-postgres runs although LOCAL_POSTGRES_SCALE=0")
	}
	if st := states["workspace-migrations"]; st.exitCode != 0 || st.restarts != 0 {
		t.Fatalf("workspace-migrations exited %d after %d restarts\n%s", st.exitCode, st.restarts, logs("workspace-migrations"))
	}
	for _, s := range want {
		if st := states[s]; st.restarts != 0 {
			t.Errorf("%s restarted %d times\n%s", s, st.restarts, logs(s))
		}
	}
	migrationLogs := logs("workspace-migrations")
	for _, w := range []string{"tls=true", `msg="created role"`, `msg="created database"`, "exiting with code 0"} {
		if !strings.Contains(migrationLogs, w) {
			t.Errorf("workspace-migrations logs lack %q:\n%s", w, migrationLogs)
		}
	}
	var dbs int
	if err := pg.Conn(t, "postgres").QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = 'workspace'").Scan(&dbs); err != nil || dbs != 1 {
		t.Errorf("workspace database: count %d, %v", dbs, err)
	}

	// HTTPS through the router, with the certificate from certs/.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: domain},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	base := fmt.Sprintf("https://127.0.0.1:%d", httpsPort)
	tests := []struct {
		path       string
		monitoring bool
		wantStatus int
		wantBody   string
	}{
		{"/", false, 200, "CARTO stand-in: workspace-www"},
		{"/acc/", false, 200, "CARTO stand-in: accounts-www"},
		{"/workspace-api/health", true, 200, `"service":"workspace-api"`},
		{"/workspace-api/health", false, 404, ""},
		{"/api/health", true, 200, `"service":"maps-api"`},
	}
	for _, tt := range tests {
		var resp *http.Response
		var err error
		// The router may take a moment after "running" to listen.
		for range 20 {
			req, _ := http.NewRequestWithContext(ctx, "GET", base+tt.path, nil)
			if tt.monitoring {
				req.Header.Set("Carto-Monitoring", "true")
			}
			if resp, err = client.Do(req); err == nil {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("GET %s: %v\nrouter logs:\n%s", tt.path, err, logs("router-http"))
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.wantStatus || !strings.Contains(string(body), tt.wantBody) {
			t.Errorf("GET %s (monitoring %v) = %d %q, want %d containing %q", tt.path, tt.monitoring, resp.StatusCode, body, tt.wantStatus, tt.wantBody)
		}
	}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/acc/?x=1", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "https://"+domain+"/acc/?x=1" {
		t.Errorf("port 80 answered %d %q, want 301 to https://%s/acc/?x=1", resp.StatusCode, resp.Header.Get("Location"), domain)
	}
	// The heartbeat is periodic (every 2 s): on a loaded machine the checks
	// above can finish before the first one, so wait for it.
	var apiLogs string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		apiLogs = logs("workspace-api")
		if strings.Contains(apiLogs, "msg=heartbeat") || time.Now().After(deadline) {
			break
		}
	}
	if !strings.Contains(apiLogs, "msg=heartbeat") || !strings.Contains(apiLogs, "effective configuration:") {
		t.Errorf("workspace-api logs lack the start-up or heartbeat lines:\n%s", apiLogs)
	}

	// A database that refuses connections: workspace-migrations exits 1
	// with the reason, and the bounded restart policy lets it settle.
	dotEnv, err := os.ReadFile(filepath.Join(dir, ".env"))
	if err != nil {
		t.Fatal(err)
	}
	closed := strconv.Itoa(testenv.FreePortAll(t))
	dotEnv = bytes.Replace(dotEnv, []byte("WORKSPACE_POSTGRES_PORT="+strconv.Itoa(pg.Port)+"\n"), []byte("WORKSPACE_POSTGRES_PORT="+closed+"\n"), 1)
	if err := os.WriteFile(filepath.Join(dir, ".env"), dotEnv, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run(ctx, "up", "-d", "--no-deps", "--force-recreate", "workspace-migrations"); err != nil {
		t.Fatalf("docker-compose up workspace-migrations: %v\n%s", err, out)
	}
	for {
		st := composeStates(ctx, t, project)["workspace-migrations"]
		if st.status == "exited" && st.restarts == 2 {
			if st.exitCode != 1 {
				t.Errorf("workspace-migrations exited %d against a closed port, want 1", st.exitCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("workspace-migrations did not settle against a closed port: %+v\n%s", st, logs("workspace-migrations"))
		}
		time.Sleep(500 * time.Millisecond)
	}
	if l := logs("workspace-migrations"); !strings.Contains(l, "migrations: connect to 172.17.0.1:"+closed) || !strings.Contains(l, "exiting with code 1") {
		t.Errorf("workspace-migrations logs do not give the reason:\n%s", l)
	}

	if testing.Verbose() {
		t.Logf("router-http logs:\n%s\nworkspace-migrations logs:\n%s", logs("router-http"), migrationLogs)
	}
	t.Logf("%s: checks done", time.Since(start).Round(time.Millisecond))
}

// TestRealisticCustomerEnv checks the realistic package against
// carto-facts §3: every variable Compose and env.tpl need from
// customer.env, the external blocks commented out, and the newer version
// changing what it says it changes.
func TestRealisticCustomerEnv(t *testing.T) {
	old, err := RealisticCustomerEnv(RealisticOldVersion)
	if err != nil {
		t.Fatal(err)
	}
	keys := uncommented(string(old))
	for _, k := range []string{
		"SELFHOSTED_DOMAIN", "SELFHOSTED_TENANT_ID", "SELFHOSTED_GCP_PROJECT_ID",
		"CARTO_AUTH0_CLIENT_ID", "CARTO_AUTH0_CUSTOM_DOMAIN",
		"ACC_DOMAIN", "ACC_GCP_PROJECT_ID", "ACC_GCP_PROJECT_REGION",
		"DO_API_DOMAIN", "DO_ASSETS_DOMAIN",
		"LOCAL_POSTGRES_SCALE", "LOCAL_REDIS_SCALE", "POSTGRES_ADMIN_USER", "POSTGRES_ADMIN_PASSWORD",
		"CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION", "WORKSPACE_IMPORTS_BUCKET", "IMPORT_BUCKET",
	} {
		if keys[k] == "" {
			t.Errorf("%s is not set", k)
		}
	}
	if keys["SELFHOSTED_TENANT_ID"] != RealisticTenantID || keys["CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION"] != RealisticOldVersion {
		t.Errorf("tenant %q version %q", keys["SELFHOSTED_TENANT_ID"], keys["CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION"])
	}
	text := string(old)
	for _, line := range []string{"# LOCAL_POSTGRES_SCALE=0\n", "# REDIS_TLS_CA=/usr/src/certs/redis-tls-ca.crt\n",
		"# ROUTER_SSL_CERTIFICATE_PATH=/etc/nginx/ssl/<cert>.crt\n", "# HTTPS_PROXY=http://<proxy>:<port>\n",
		"# GOOGLE_MAPS_API_KEY=<FILL_ME>\n", "# IMPORT_PROVIDER=s3\n"} {
		if !strings.Contains(text, line) {
			t.Errorf("the package lacks the commented-out line %q", line)
		}
	}
	newer, err := RealisticCustomerEnv(RealisticNewVersion)
	if err != nil {
		t.Fatal(err)
	}
	nk := uncommented(string(newer))
	if nk["CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION"] != RealisticNewVersion || nk["LAUNCHDARKLY_SDK_KEY"] == keys["LAUNCHDARKLY_SDK_KEY"] ||
		nk["AT_TOKENLESS_RESOLVER_AUTH_USER"] == "" || nk["NGINX_CLIENT_MAX_BODY_SIZE"] != "" {
		t.Errorf("the newer package does not change what it should: %v", nk)
	}
	if _, err := RealisticCustomerEnv("2020.1.1"); err == nil {
		t.Error("an unknown version gave a package")
	}
}
