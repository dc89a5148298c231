package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/carto-setup/carto-setup/internal/answers"
	"github.com/carto-setup/carto-setup/internal/app"
	"github.com/carto-setup/carto-setup/internal/certcheck"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/custpkg"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/e2e"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/pgtest"
	"github.com/carto-setup/carto-setup/internal/testenv"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// runApp runs carto-setup with args and returns the exit status and output.
func runApp(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := app.Run(context.Background(), append([]string{"carto-setup"}, args...), func(string) string { return "" }, &stdout, &stderr)
	return exitCode(t, err), stdout.String(), stderr.String()
}

// TestApplyExportedAnswers is the headless round trip: a state as the
// wizard holds it after a walk (sample package, a real PostgreSQL,
// self-signed TLS, CARTO-managed buckets, reasons for what fails on this
// machine) is exported with `answers`, and `apply` of that export on a
// fresh state directory installs the stand-in release and writes the same
// customer.env, .env and certs/ as the first state's plan.
func TestApplyExportedAnswers(t *testing.T) {
	e2e.NeedDocker(t)
	bin := e2e.StaticBinary(t)
	const domain = "carto.headless.test"
	version := fmt.Sprintf("2026.8.11-hl%d", rand.IntN(1e6))
	project := fmt.Sprintf("hl%06d", rand.IntN(1e6))
	planned, installed := t.TempDir(), t.TempDir()
	for _, dir := range []string{planned, installed} {
		if err := release.Write(dir, version); err != nil {
			t.Fatal(err)
		}
	}
	// The containers reach the database through the Docker bridge.
	pg := pgtest.Start(t, pgtest.Options{ListenAddrs: []string{"172.17.0.1"}})
	env := release.SampleCustomerEnv("carto3-onprem.lan")
	env = fmt.Appendf(env, "ROUTER_HTTP_PORT=%d\nROUTER_HTTPS_PORT=%d\nROUTER_METRICS_PORT=%d\n", testenv.ClosedPort(t), testenv.ClosedPort(t), testenv.ClosedPort(t))
	key, err := release.SampleKeyJSON()
	if err != nil {
		t.Fatal(err)
	}
	minVersion, _ := os.ReadFile(filepath.Join(installed, "MIN_VERSION"))
	files, results, sum := custpkg.ValidateFiles(env, key, custpkg.Release{Version: version, MinVersion: strings.TrimSpace(string(minVersion))})
	if check.Failed(results) {
		t.Fatalf("the sample package fails: %+v", results)
	}
	now := time.Now()
	certPEM, keyPEM, fp, err := certcheck.SelfSigned(domain, now)
	if err != nil {
		t.Fatal(err)
	}
	st := wizard.State{
		Package: wizard.PackageInput{CustomerEnv: string(files.CustomerEnv), KeyJSON: string(files.KeyJSON),
			Summary: wizard.PackageSummary{Tenant: sum.TenantID, PackageVersion: sum.PackageVersion, ServiceAccount: sum.ServiceAccount, Project: sum.GCPProject}},
		Domain: wizard.DomainInput{Domain: domain},
		Database: wizard.DatabaseInput{Mode: wizard.ModeExternal, Host: "172.17.0.1", Port: pg.Port, AdminUser: pg.User, AdminPassword: pg.Password,
			AdminDatabase: "postgres", WorkspaceUser: "workspace_admin", WorkspacePassword: "hl-workspace-Secret-1", WorkspaceDatabase: "workspace",
			SSL: false, SSLMode: "disable"},
		Cache:   wizard.CacheInput{Mode: wizard.ModeEmbedded, Port: 6379},
		TLS:     wizard.TLSInput{Mode: wizard.TLSSelfSigned, CertPEM: string(certPEM), KeyPEM: string(keyPEM), Fingerprint: fp},
		Buckets: wizard.BucketsInput{Mode: wizard.BucketsCartoManaged, Thumbnails: wizard.BucketInput{Public: true}},
	}
	wizardState := t.TempDir()
	store := wizard.NewFileStore(filepath.Join(wizardState, "state.json"), time.Now)
	save := func() {
		t.Helper()
		if _, err := store.Update(func(s *wizard.State) error { st.Revision = s.Revision; *s = st; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	closed := fmt.Sprintf("127.0.0.1:%d", testenv.ClosedPort(t))
	common := []string{"--dir", installed, "--http-addr", "127.0.0.1:0", "--resolver", closed}
	export := func() string {
		t.Helper()
		code, out, stderr := runApp(t, append([]string{"answers", "--state-dir", wizardState}, common[:2]...)...)
		if code != 0 {
			t.Fatalf("answers: exit %d: %s", code, stderr)
		}
		path := filepath.Join(t.TempDir(), "answers.yaml")
		if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	// The walk: every check the wizard runs, and a typed reason for each
	// failure this machine has (two CPUs, no internet, no DNS record).
	save()
	code, stdout, stderr := runApp(t, append([]string{"check", "--json", "--answers", export(), "--state-dir", t.TempDir()}, common...)...)
	if code == 2 {
		t.Fatalf("check of the export: invalid answers: %s", stderr)
	}
	for _, c := range decodeChecks(t, stdout).Checks {
		if c.Status == "fail" || c.Status == "error" {
			st.Overrides = append(st.Overrides, wizard.Override{Check: c.ID, Reason: "headless test machine", At: now})
		}
	}
	save()
	answersFile := export()
	if text, _ := os.ReadFile(answersFile); strings.Contains(string(text), pg.Password) || strings.Contains(string(text), "PRIVATE KEY") {
		t.Fatalf("the answers file holds a secret:\n%s", text)
	}

	t.Cleanup(func() { teardown(t, installed, project, version) })
	applyState := t.TempDir()
	code, stdout, stderr = runApp(t, append([]string{"apply", "--answers", answersFile, "--state-dir", applyState,
		"--project", project, "--standin-binary", bin, "--expect-timeout", "4m"}, common...)...)
	t.Logf("apply progress:\n%s", stderr)
	if code != 0 {
		t.Fatalf("apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "Every service reached its expected state.") {
		t.Errorf("the progress on stderr does not say the services are up:\n%s", stderr)
	}
	if strings.Contains(stdout+stderr, pg.Password) || strings.Contains(stdout+stderr, "hl-workspace-Secret-1") {
		t.Error("apply printed a password")
	}

	// The first state's plan, written without Docker, is what apply wrote.
	plan, err := deploy.NewPlan(st, planned)
	if err != nil {
		t.Fatal(err)
	}
	if err := deploy.ApplyWith(plan, deploy.ApplyOptions{Now: now}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{deploy.CustomerEnvFile, deploy.DotEnvFile} {
		compareFile(t, planned, installed, name)
	}
	certs, err := os.ReadDir(filepath.Join(planned, deploy.CertsDir))
	if err != nil || len(certs) == 0 {
		t.Fatalf("the plan wrote no certs/: %v", err)
	}
	for _, e := range certs {
		compareFile(t, planned, installed, filepath.Join(deploy.CertsDir, e.Name()))
	}
	if got, _ := os.ReadDir(filepath.Join(installed, deploy.CertsDir)); len(got) != len(certs) {
		t.Errorf("apply wrote %d files in certs/, the plan %d", len(got), len(certs))
	}

	// The fresh state directory now holds what the wizard would: the
	// overrides with their reasons, and the install done.
	got, err := wizard.NewFileStore(filepath.Join(applyState, "state.json"), time.Now).Load()
	if err != nil {
		t.Fatal(err)
	}
	if !got.Done[wizard.Install] || !got.Done[wizard.Smoke] || len(got.Checks[wizard.Smoke].Results) == 0 {
		t.Errorf("the state does not record the install and the smoke test: done %v", got.Done)
	}
	// An override whose check passes on this run (the registry checks,
	// once the stand-in's images are built here) is stale and dropped, as
	// the wizard drops it; every other one is recorded with its reason.
	status := map[string]string{}
	for _, run := range got.Checks {
		for _, r := range run.Results {
			status[r.ID] = string(r.Status)
		}
	}
	for _, o := range st.Overrides {
		if s, ran := status[o.Check]; !ran || s == "pass" {
			continue
		}
		if r, ok := got.Overridden(o.Check); !ok || r.Reason != o.Reason {
			t.Errorf("override %s not recorded: %+v", o.Check, r)
		}
	}

	// `carto-setup smoke` checks what is installed, from a shell: exit 0
	// on the healthy install, 1 once a service is stopped by hand.
	smokeArgs := append([]string{"smoke", "--json", "--state-dir", applyState, "--project", project, "--standin-binary", bin}, common...)
	code, stdout, stderr = runApp(t, smokeArgs...)
	if code != 0 || decodeChecks(t, stdout).status("smoke.tls.domain") != "pass" {
		t.Fatalf("smoke of the healthy install: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	api := composeService(t, project, "workspace-api")
	if out, err := exec.Command("docker", "stop", "-t", "2", api).CombinedOutput(); err != nil {
		t.Fatalf("docker stop: %v %s", err, out)
	}
	code, stdout, stderr = runApp(t, smokeArgs...)
	if code != 1 || decodeChecks(t, stdout).status("smoke.service.workspace-api") != "fail" || !strings.Contains(stderr, "smoke.service.workspace-api") {
		t.Errorf("smoke with workspace-api stopped: exit %d, want 1\nstderr: %s", code, stderr)
	}
	if out, err := exec.Command("docker", "start", api).CombinedOutput(); err != nil {
		t.Fatalf("docker start: %v %s", err, out)
	}

	// The same answers against a PostgreSQL whose pg_hba.conf admits this
	// VM's address on the bridge but not the Compose network's: every
	// check passes from the VM, the migrations fail in their container.
	// The install fails, exit 1, and stderr names workspace-migrations
	// with its last log lines. (A wrong password cannot be continued
	// past, so that is not how a failed install is made.)
	hostOnly := pgtest.Start(t, pgtest.Options{ListenAddrs: []string{"172.17.0.1"},
		HBA: []string{"host all all samehost scram-sha-256"}}) // this host's own addresses only
	text, err := os.ReadFile(answersFile)
	if err != nil {
		t.Fatal(err)
	}
	f, err := answers.Parse(text, "", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	hostOnlyPassword := filepath.Join(t.TempDir(), "password")
	os.WriteFile(hostOnlyPassword, []byte(hostOnly.Password), 0o600)
	f.Database.AdminPasswordFile = hostOnlyPassword
	f.Database.Port = hostOnly.Port
	f.Database.AdminUser = hostOnly.User
	text, err = yaml.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	wrongFile := filepath.Join(t.TempDir(), "wrong.yaml")
	os.WriteFile(wrongFile, text, 0o600)
	code, stdout, stderr = runApp(t, append([]string{"apply", "--json", "--answers", wrongFile, "--state-dir", applyState,
		"--project", project, "--standin-binary", bin, "--expect-timeout", "4m"}, common...)...)
	t.Logf("failed apply progress:\n%s", stderr)
	if code != 1 {
		t.Fatalf("apply with the containers refused by pg_hba.conf: exit %d, want 1\nstdout:\n%s", code, stdout)
	}
	if st := decodeApply(t, stdout).status("database.auth"); st != "pass" {
		t.Errorf("database.auth from this VM: %q, want pass (only the containers are refused)", st)
	}
	if decodeApply(t, stdout).status("install.deploy") != "fail" {
		t.Errorf("install.deploy does not fail in the JSON:\n%s", stdout)
	}
	if !strings.Contains(stderr, "workspace-migrations failed") || !strings.Contains(stderr, "Last log lines of") {
		t.Errorf("stderr does not name workspace-migrations with its last log lines")
	}
	if strings.Contains(stdout+stderr, hostOnly.Password) {
		t.Error("apply printed the password")
	}
}

func compareFile(t *testing.T, a, b, name string) {
	t.Helper()
	x, err := os.ReadFile(filepath.Join(a, name))
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(filepath.Join(b, name))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Errorf("%s differs between the wizard's plan and the headless apply", name)
	}
}

// teardown removes the project with its volumes, and the stand-in image.
func teardown(t *testing.T, dir, project, version string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if tool, err := compose.Detect(ctx, exec.LookPath, compose.Exec); err == nil {
		argv := tool.Args(project, dir, "down", "-v", "--remove-orphans")
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Run(); err != nil {
			t.Logf("compose down -v: %v", err)
		}
	}
	if eng, err := engine.New(ctx); err == nil {
		if err := eng.RemoveImage(ctx, release.ImageTag(version)); err != nil {
			t.Logf("remove image: %v", err)
		}
		eng.Close()
	}
}

// composeService returns the ID of a service's container in project.
func composeService(t *testing.T, project, service string) string {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+project,
		"--filter", "label=com.docker.compose.service="+service).Output()
	id := strings.TrimSpace(string(out))
	if err != nil || id == "" || strings.Contains(id, "\n") {
		t.Fatalf("container of %s: %q %v", service, id, err)
	}
	return id
}
