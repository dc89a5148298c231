package standin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/pgtest"
	"github.com/carto-setup/carto-setup/internal/selfsigned"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// baseEnv is a valid environment for every service except the router and
// the migrations, whose extras the tests add.
func baseEnv(t *testing.T) map[string]string {
	t.Helper()
	key := filepath.Join(t.TempDir(), "key.json")
	err := os.WriteFile(key, []byte(`{"type":"service_account","client_email":"a@b.iam.gserviceaccount.com",`+
		`"private_key":"-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"}`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"SELFHOSTED_DOMAIN":              "carto.example.com",
		"SELFHOSTED_TENANT_ID":           "onp-test",
		"CARTO_SELFHOSTED_VERSION":       "2026.8.11",
		"GOOGLE_APPLICATION_CREDENTIALS": key,
		"WORKSPACE_POSTGRES_HOST":        "db.example.com",
		"WORKSPACE_POSTGRES_PORT":        "5432",
		"WORKSPACE_POSTGRES_USER":        "workspace_admin",
		"WORKSPACE_POSTGRES_PASSWORD":    "secret",
		"WORKSPACE_POSTGRES_DB":          "workspace",
		"REDIS_HOST":                     "redis",
		"REDIS_PORT":                     "6379",
		"STANDIN_LOG_INTERVAL":           "50ms",
	}
}

func getenvFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestMainConfigurationErrors(t *testing.T) {
	tests := []struct {
		name    string
		service string
		set     map[string]string
		unset   []string
		want    []string // substrings of stderr
		code    int
	}{
		{name: "unknown service", service: "nope", want: []string{`unknown service "nope"`}, code: 2},
		{name: "domain missing", service: "workspace-api", unset: []string{"SELFHOSTED_DOMAIN"},
			want: []string{"SELFHOSTED_DOMAIN is not set"}, code: 1},
		{name: "domain with scheme", service: "maps-api", set: map[string]string{"SELFHOSTED_DOMAIN": "https://carto.example.com"},
			want: []string{"SELFHOSTED_DOMAIN", "it has a scheme"}, code: 1},
		{name: "domain with port", service: "workspace-www", set: map[string]string{"SELFHOSTED_DOMAIN": "carto.example.com:443"},
			want: []string{"it has a port"}, code: 1},
		{name: "tenant of the wrong form", service: "lds-api", set: map[string]string{"SELFHOSTED_TENANT_ID": "demo"},
			want: []string{"SELFHOSTED_TENANT_ID", "onp-<id>"}, code: 1},
		{name: "postgres host missing for an API", service: "workspace-api", unset: []string{"WORKSPACE_POSTGRES_HOST"},
			want: []string{"WORKSPACE_POSTGRES_HOST is not set"}, code: 1},
		{name: "placeholder left in", service: "import-api", set: map[string]string{"WORKSPACE_POSTGRES_PASSWORD": "<FILL_ME>"},
			want: []string{"WORKSPACE_POSTGRES_PASSWORD still holds the placeholder"}, code: 1},
		{name: "port not a number", service: "sql-worker", set: map[string]string{"WORKSPACE_POSTGRES_PORT": "five"},
			want: []string{"WORKSPACE_POSTGRES_PORT", "five", "is not a TCP port"}, code: 1},
		{name: "bad ssl mode", service: "workspace-subscriber", set: map[string]string{"WORKSPACE_POSTGRES_SSL_MODE": "on"},
			want: []string{"WORKSPACE_POSTGRES_SSL_MODE", "verify-full"}, code: 1},
		{name: "missing CA file", service: "import-worker", set: map[string]string{"WORKSPACE_POSTGRES_SSL_CA": "/nonexistent/ca.crt"},
			want: []string{"WORKSPACE_POSTGRES_SSL_CA", "cannot be read"}, code: 1},
		{name: "key.json missing", service: "cdn-invalidator-sub", set: map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent/key.json"},
			want: []string{"GOOGLE_APPLICATION_CREDENTIALS", "cannot be read"}, code: 1},
		{name: "extra CA bundle unreadable", service: "maps-api", set: map[string]string{"NODE_EXTRA_CA_CERTS": "/nonexistent/extra-ca-bundle.pem"},
			want: []string{"NODE_EXTRA_CA_CERTS", "/nonexistent/extra-ca-bundle.pem", "cannot be read"}, code: 1},
		{name: "bucket key unreadable", service: "import-worker", set: map[string]string{"IMPORT_KEYFILENAME": "/nonexistent/bucket-gcs-key.json"},
			want: []string{"IMPORT_KEYFILENAME", "cannot be read"}, code: 1},
		{name: "router without upstreams", service: "router-http",
			want: []string{"WORKSPACE_WWW_INTERNAL_URL is not set", "ACCOUNTS_WWW_INTERNAL_URL is not set"}, code: 1},
		{name: "router certificate required", service: "router-http", set: map[string]string{"ROUTER_SSL_AUTOGENERATE": "0"},
			want: []string{"ROUTER_SSL_CERTIFICATE_PATH is not set", "ROUTER_SSL_CERTIFICATE_KEY_PATH is not set"}, code: 1},
		{name: "migrations without admin", service: "workspace-migrations", unset: []string{"POSTGRES_ADMIN_USER"},
			want: []string{"POSTGRES_ADMIN_USER is not set", "POSTGRES_ADMIN_PASSWORD is not set"}, code: 1},
		{name: "bad log interval", service: "notifier", set: map[string]string{"STANDIN_LOG_INTERVAL": "often"},
			want: []string{"STANDIN_LOG_INTERVAL"}, code: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := baseEnv(t)
			for k, v := range tt.set {
				env[k] = v
			}
			for _, k := range tt.unset {
				delete(env, k)
			}
			var stdout, stderr testenv.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			code := Main(ctx, []string{tt.service}, getenvFrom(env), &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstderr:\n%s", code, tt.code, stderr.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr does not mention %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}

func TestBadDomain(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" for a good domain
	}{
		{"carto.example.com", ""},
		{"localhost", ""},
		{"a-b.example", ""},
		{"http://carto.example.com", "scheme"},
		{"carto.example.com/path", "path"},
		{"carto.example.com:8443", "port"},
		{"10.0.0.1", "IP address"},
		{"-bad.example.com", "label"},
		{"carto..example.com", "label"},
		{"car_to.example.com", "character"},
	}
	for _, tt := range tests {
		got := badDomain(tt.in)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("badDomain(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSummaryMasksSecretsAndPads(t *testing.T) {
	env := map[string]string{"SELFHOSTED_DOMAIN": "d.example", "WORKSPACE_POSTGRES_PASSWORD": "hunter2", "EMPTY": ""}
	r := &recorder{getenv: getenvFrom(env)}
	r.get("SELFHOSTED_DOMAIN")
	r.get("WORKSPACE_POSTGRES_PASSWORD")
	r.get("EMPTY")
	s := r.summary(20000)
	if strings.Contains(s, "hunter2") {
		t.Errorf("summary shows a secret: %s", s)
	}
	if !strings.Contains(s, `SELFHOSTED_DOMAIN="d.example"`) || !strings.Contains(s, "WORKSPACE_POSTGRES_PASSWORD=\"********\"") {
		t.Errorf("summary misses variables: %.200s", s)
	}
	if len(s) != 20000 {
		t.Errorf("summary is %d bytes, want 20000", len(s))
	}
}

func TestBackendHandler(t *testing.T) {
	cfg := config{domain: "carto.example.com", tenant: "onp-x", version: "2026.8.11"}
	lg := newLogger("t", io.Discard, io.Discard)
	tests := []struct {
		name       string
		kind       kind
		method     string
		path       string
		monitoring bool
		wantStatus int
		wantBody   string
	}{
		{"health with header", kindAPI, "GET", "/health", true, 200, `"status":"ok"`},
		{"health without header", kindAPI, "GET", "/health", false, 404, ""},
		{"api root", kindAPI, "GET", "/", false, 404, `"not found"`},
		{"www root", kindWWW, "GET", "/", false, 200, "<h1>CARTO stand-in: w</h1>"},
		{"www deep path", kindWWW, "GET", "/acc/login", false, 200, "tenant onp-x"},
		{"www post", kindWWW, "POST", "/", false, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var served atomic.Int64
			h := backendHandler("w", tt.kind, cfg, lg, &served)
			req := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.monitoring {
				req.Header.Set("Carto-Monitoring", "true")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus || !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("%s %s = %d %q, want %d containing %q", tt.method, tt.path, rec.Code, rec.Body.String(), tt.wantStatus, tt.wantBody)
			}
			if served.Load() != 1 {
				t.Errorf("served = %d, want 1", served.Load())
			}
		})
	}
}

func TestRouterHandler(t *testing.T) {
	// Each upstream echoes its name and the path it received.
	upstream := func(name string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, name+" "+r.URL.Path+" "+r.Host)
		}))
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "http://")
	}
	routes := []route{
		{prefix: "/acc/", upstream: upstream("accounts")},
		{prefix: "/workspace-api/", upstream: upstream("workspace-api"), strip: true},
		{prefix: "/api/", upstream: upstream("maps-api"), strip: true},
		{prefix: "/", upstream: upstream("workspace-www")},
	}
	h := routerHandler(routes, newLogger("router", io.Discard, io.Discard), new(atomic.Int64))
	tests := []struct {
		path string
		want string
	}{
		{"/", "workspace-www / carto.example.com"},
		{"/maps/123", "workspace-www /maps/123 carto.example.com"},
		{"/acc/", "accounts /acc/ carto.example.com"},
		{"/workspace-api/health", "workspace-api /health carto.example.com"},
		{"/api/v3/maps/public", "maps-api /v3/maps/public carto.example.com"},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("GET", "https://carto.example.com"+tt.path, nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 || rec.Body.String() != tt.want {
			t.Errorf("GET %s = %d %q, want 200 %q", tt.path, rec.Code, rec.Body.String(), tt.want)
		}
	}

	rec := httptest.NewRecorder()
	redirectHandler("carto.example.com").ServeHTTP(rec, httptest.NewRequest("GET", "http://10.0.0.1/acc/x?y=1", nil))
	if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "https://carto.example.com/acc/x?y=1" {
		t.Errorf("redirect = %d %q", rec.Code, rec.Header().Get("Location"))
	}
}

func TestRouterServesTLS(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM, err := selfsigned.Generate(selfsigned.Request{CommonName: "carto.example.com",
		DNSNames: []string{"carto.example.com"}, NotBefore: time.Now(), Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "router.crt"), certPEM, 0o644)
	os.WriteFile(filepath.Join(dir, "router.key"), keyPEM, 0o600)
	www := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "www") }))
	defer www.Close()
	wwwAddr := strings.TrimPrefix(www.URL, "http://")

	tests := []struct {
		name string
		set  map[string]string
		ca   []byte // the certificate the client trusts; nil means any, checked by name
	}{
		{"given certificate", map[string]string{"ROUTER_SSL_AUTOGENERATE": "0",
			"ROUTER_SSL_CERTIFICATE_PATH": filepath.Join(dir, "router.crt"), "ROUTER_SSL_CERTIFICATE_KEY_PATH": filepath.Join(dir, "router.key")}, certPEM},
		{"autogenerated", map[string]string{"ROUTER_SSL_AUTOGENERATE": "1"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := baseEnv(t)
			for _, v := range []string{"WORKSPACE_WWW_INTERNAL_URL", "ACCOUNTS_WWW_INTERNAL_URL", "WORKSPACE_API_INTERNAL_URL", "MAPS_API_INTERNAL_URL"} {
				vars[v] = wwwAddr
			}
			for k, v := range tt.set {
				vars[k] = v
			}
			e := &env{getenv: getenvFrom(vars)}
			rt := readRouterConfig(e, "carto.example.com")
			if err := e.err(); err != nil {
				t.Fatal(err)
			}
			rt.httpsPort, rt.httpPort = testenv.FreePort(t), testenv.FreePort(t)
			ctx, cancel := context.WithCancel(context.Background())
			var stdout testenv.Buffer
			done := make(chan error, 1)
			go func() { done <- serveRouter(ctx, rt, newLogger("router-http", &stdout, &stdout), time.Hour) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("serveRouter: %v", err)
				}
			}()
			testenv.WaitFor(t, "the router to listen", 5*time.Second, func() bool { return strings.Contains(stdout.String(), "msg=listening") })

			tlsConf := &tls.Config{ServerName: "carto.example.com"}
			if tt.ca != nil {
				pool := x509.NewCertPool()
				pool.AppendCertsFromPEM(tt.ca)
				tlsConf.RootCAs = pool
			} else {
				tlsConf.InsecureSkipVerify = true
			}
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}, Timeout: 5 * time.Second,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := client.Get("https://127.0.0.1:" + strconv.Itoa(rt.httpsPort) + "/")
			if err != nil {
				t.Fatalf("GET over TLS: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "www" {
				t.Errorf("GET / = %d %q", resp.StatusCode, body)
			}
			if names := resp.TLS.PeerCertificates[0].DNSNames; len(names) != 1 || names[0] != "carto.example.com" {
				t.Errorf("certificate names %v", names)
			}
			resp, err = client.Get("http://127.0.0.1:" + strconv.Itoa(rt.httpPort) + "/x")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 301 || resp.Header.Get("Location") != "https://carto.example.com/x" {
				t.Errorf("plain HTTP = %d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
}

func TestWorkspacePostgresKeepsRunning(t *testing.T) {
	var stdout, stderr testenv.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, nil, getenvFrom(map[string]string{"STANDIN_SERVICE": "workspace-postgres", "STANDIN_LOG_INTERVAL": "20ms"}), &stdout, &stderr)
	}()
	testenv.WaitFor(t, "two heartbeats", 5*time.Second, func() bool { return strings.Contains(stdout.String(), "beat=2") })
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if !strings.Contains(stderr.String(), "no embedded database") {
		t.Errorf("stderr does not say the stand-in has no database:\n%s", stderr.String())
	}
}

func TestMigrationsUnreachable(t *testing.T) {
	env := baseEnv(t)
	env["WORKSPACE_POSTGRES_HOST"] = "127.0.0.1"
	env["WORKSPACE_POSTGRES_PORT"] = strconv.Itoa(testenv.FreePort(t))
	env["POSTGRES_ADMIN_USER"] = "postgres"
	env["POSTGRES_ADMIN_PASSWORD"] = "pw"
	var stdout, stderr testenv.Buffer
	code := Main(context.Background(), []string{"workspace-migrations"}, getenvFrom(env), &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "migrations: connect to 127.0.0.1:"+env["WORKSPACE_POSTGRES_PORT"]) {
		t.Errorf("stderr does not give the reason:\n%s", stderr.String())
	}
}

func TestMigrationsAgainstPostgres(t *testing.T) {
	pg := pgtest.Start(t, pgtest.Options{TLS: true})
	ca := filepath.Join(t.TempDir(), "postgresql-ssl-ca.crt")
	if err := os.WriteFile(ca, pg.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	env := baseEnv(t)
	env["WORKSPACE_POSTGRES_HOST"] = pg.Host
	env["WORKSPACE_POSTGRES_PORT"] = strconv.Itoa(pg.Port)
	env["WORKSPACE_POSTGRES_SSL_MODE"] = "verify-full"
	env["WORKSPACE_POSTGRES_SSL_CA"] = ca
	env["WORKSPACE_POSTGRES_PASSWORD"] = "it's a secret"
	env["POSTGRES_ADMIN_USER"] = pg.User
	env["POSTGRES_ADMIN_PASSWORD"] = pg.Password

	tests := []struct {
		name string
		want []string
	}{
		{"first run creates", []string{"tls=true", "msg=\"created role\"", "msg=\"created database\"", "name=0001_standin_migrations"}},
		{"second run finds", []string{"role already exists", "database already exists", "migration already applied"}},
	}
	for _, tt := range tests {
		var stdout, stderr testenv.Buffer
		code := Main(context.Background(), []string{"workspace-migrations"}, getenvFrom(env), &stdout, &stderr)
		if code != 0 {
			t.Fatalf("%s: exit code %d\nstdout:\n%s\nstderr:\n%s", tt.name, code, stdout.String(), stderr.String())
		}
		for _, w := range tt.want {
			if !strings.Contains(stdout.String(), w) {
				t.Errorf("%s: stdout does not contain %q:\n%s", tt.name, w, stdout.String())
			}
		}
	}

	t.Run("wrong CA", func(t *testing.T) {
		other := pgtest.NewCA(t)
		bad := filepath.Join(t.TempDir(), "other-ca.crt")
		os.WriteFile(bad, other.PEM, 0o644)
		env := maps.Clone(env)
		env["WORKSPACE_POSTGRES_SSL_CA"] = bad
		var stdout, stderr testenv.Buffer
		if code := Main(context.Background(), []string{"workspace-migrations"}, getenvFrom(env), &stdout, &stderr); code != 1 {
			t.Fatalf("exit code %d, want 1", code)
		}
		if !strings.Contains(stderr.String(), "certificate") {
			t.Errorf("stderr does not name the certificate problem:\n%s", stderr.String())
		}
	})
}
