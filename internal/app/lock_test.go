package app_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/app"
	"github.com/carto-setup/carto-setup/internal/certcheck"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/custpkg"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/e2e"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/testenv"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// slowUpShim is a docker-compose in front of the real one whose `up` first
// sleeps COMPOSE_SHIM_SLOW_UP seconds (Compose gets only COMPOSE_* and a
// few other variables), so that a test can kill the wizard while its
// Compose runs: a real `up -d` of the stand-in may be done before a kill
// lands. Its command line has the shape of Debian's docker-compose:
// python3 .../docker-compose --project-name PROJECT ... up -d.
const slowUpShim = `#!%s
import os, sys, time
if "up" in sys.argv[1:]:
    time.sleep(float(os.environ.get("COMPOSE_SHIM_SLOW_UP", "0")))
os.execv(%q, [%q, %q] + sys.argv[1:])
`

// installableState is a wizard state whose plan installs the stand-in
// release: the sample package (router ports moved out of the way),
// embedded database and cache, a self-signed certificate, CARTO-managed
// buckets, every step before the review done.
func installableState(t *testing.T, dir, domain string) wizard.State {
	t.Helper()
	env := release.SampleCustomerEnv("carto3-onprem.lan")
	env = fmt.Appendf(env, "ROUTER_HTTP_PORT=%d\nROUTER_HTTPS_PORT=%d\nROUTER_METRICS_PORT=%d\n", testenv.ClosedPort(t), testenv.ClosedPort(t), testenv.ClosedPort(t))
	key, err := release.SampleKeyJSON()
	if err != nil {
		t.Fatal(err)
	}
	version, _ := os.ReadFile(filepath.Join(dir, "VERSION"))
	minVersion, _ := os.ReadFile(filepath.Join(dir, "MIN_VERSION"))
	files, results, sum := custpkg.ValidateFiles(env, key, custpkg.Release{Version: strings.TrimSpace(string(version)), MinVersion: strings.TrimSpace(string(minVersion))})
	if check.Failed(results) {
		t.Fatalf("the sample package fails: %+v", results)
	}
	certPEM, keyPEM, fp, err := certcheck.SelfSigned(domain, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st := wizard.State{
		Package: wizard.PackageInput{CustomerEnv: string(files.CustomerEnv), KeyJSON: string(files.KeyJSON),
			Summary: wizard.PackageSummary{Tenant: sum.TenantID, PackageVersion: sum.PackageVersion, ServiceAccount: sum.ServiceAccount, Project: sum.GCPProject}},
		Domain:   wizard.DomainInput{Domain: domain},
		Database: wizard.DatabaseInput{Mode: wizard.ModeEmbedded, AdminPassword: "lock-test-Admin-1", WorkspacePassword: "lock-test-Workspace-1"},
		Cache:    steps.CacheDefaults(),
		TLS:      wizard.TLSInput{Mode: wizard.TLSSelfSigned, CertPEM: string(certPEM), KeyPEM: string(keyPEM), Fingerprint: fp},
		Buckets:  wizard.BucketsInput{Mode: wizard.BucketsCartoManaged, Thumbnails: wizard.BucketInput{Public: true}},
	}
	for _, s := range []wizard.Step{wizard.Preflight, wizard.Package, wizard.Domain, wizard.Database, wizard.TLS, wizard.Buckets} {
		st.MarkDone(s)
	}
	return st
}

// composeUp waits for the `up` of project to run and returns it.
func composeUp(t *testing.T, project string, limit time.Duration, console *testenv.Buffer) compose.Process {
	t.Helper()
	var up compose.Process
	testenv.WaitFor(t, "docker-compose up of "+project, limit, func() bool {
		if strings.Contains(console.String(), "install failed") {
			t.Fatal("the wizard's install failed before Compose ran")
		}
		procs, err := compose.FindProcesses(compose.ProcDir, project)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(procs, func(p compose.Process) bool { return p.Subcommand() == "up" })
		if i >= 0 {
			up = procs[i]
		}
		return i >= 0
	})
	return up
}

func running(t *testing.T, project string, pid int) bool {
	t.Helper()
	procs, err := compose.FindProcesses(compose.ProcDir, project)
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(procs, func(p compose.Process) bool { return p.PID == pid })
}

// TestOneInstallAtATime runs the wizard as its own process on a state and
// installs: an `apply` holding the state directory makes the wizard refuse
// and name it; while the wizard's install runs, `apply` on the same state
// refuses and names the wizard; and once the wizard is SIGKILLed in the
// middle of `docker-compose up`, the next `apply` says the previous install
// was interrupted and stops the Compose process it left running before it
// does anything else.
func TestOneInstallAtATime(t *testing.T) {
	e2e.NeedDocker(t)
	realCompose := testenv.LookPath(t, "docker-compose", "apt-get install docker-compose")
	// The shim runs with the real one's interpreter (Debian's is a
	// Python script), so that its modules are found.
	head, err := os.ReadFile(realCompose)
	if err != nil {
		t.Fatal(err)
	}
	python, _, _ := strings.Cut(strings.TrimPrefix(string(head), "#!"), "\n")
	if !strings.HasPrefix(string(head), "#!") || !strings.Contains(filepath.Base(python), "python") {
		testenv.Missing(t, "the Python docker-compose 1.29 at "+realCompose, "apt-get install docker-compose")
	}
	bin := e2e.StaticBinary(t)
	version := fmt.Sprintf("2026.8.11-lk%d", rand.IntN(1e6))
	project := fmt.Sprintf("lk%06d", rand.IntN(1e6))
	dir, state := t.TempDir(), t.TempDir()
	if err := release.Write(dir, version); err != nil {
		t.Fatal(err)
	}
	st := installableState(t, dir, "carto.lock.test")
	store := wizard.NewFileStore(filepath.Join(state, "state.json"), time.Now)
	if _, err := store.Update(func(s *wizard.State) error { *s = st; return nil }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		teardown(t, dir, project, version)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if eng, err := engine.New(ctx); err == nil {
			release.RemoveImages(ctx, eng, version)
			eng.Close()
		}
	})
	shim := t.TempDir()
	if err := os.WriteFile(filepath.Join(shim, "docker-compose"), fmt.Appendf(nil, slowUpShim, python, python, python, realCompose), 0o755); err != nil {
		t.Fatal(err)
	}

	// The wizard, in a process of its own.
	port := testenv.FreePort(t)
	base := "https://127.0.0.1:" + strconv.Itoa(port)
	wiz := exec.Command(bin, "--dir", dir, "--state-dir", state, "--listen", "127.0.0.1:"+strconv.Itoa(port), "--http-addr", "127.0.0.1:0",
		"--project", project, "--standin-binary", bin, "--expect-timeout", "4m")
	wiz.Env = append(os.Environ(), "PATH="+shim+string(os.PathListSeparator)+os.Getenv("PATH"), "COMPOSE_SHIM_SLOW_UP=300")
	var wizOut testenv.Buffer
	wiz.Stdout, wiz.Stderr = &wizOut, &wizOut
	if err := wiz.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		wiz.Process.Kill()
		wiz.Wait()
		if t.Failed() {
			t.Logf("wizard console:\n%s", &wizOut)
		}
	})
	testenv.WaitFor(t, "the wizard's sign-in URL", time.Minute, func() bool { return strings.Contains(wizOut.String(), "/signin?token=") })
	token := regexp.MustCompile(`token=([0-9a-f]+)`).FindStringSubmatch(wizOut.String())[1]
	res, err := browser().Get(base + "/signin?token=" + token)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "__Host-carto-setup" {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatalf("no session: %d", res.StatusCode)
	}
	install := func() (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/steps/review", strings.NewReader(url.Values{"action": {"install"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(cookie)
		res, err := browser().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("Location"), string(body)
	}

	// 1. This test process holds the state directory as `apply` would:
	// the wizard does not start, and says who holds it.
	held, err := steps.LockInstall(context.Background(), state, steps.HolderApply, 0, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	code, _, body := install()
	wantHolder := fmt.Sprintf("held by `%s` (pid %d on ", steps.HolderApply, os.Getpid())
	if code != http.StatusConflict || !strings.Contains(body, wantHolder) {
		t.Fatalf("install while apply holds the state: %d, want 409 naming %q:\n%s", code, wantHolder, body)
	}
	if err := held.Release(); err != nil {
		t.Fatal(err)
	}

	// 2. The wizard's install runs; `apply` on the same state refuses
	// and names the wizard.
	code, loc, body := install()
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/jobs/") {
		t.Fatalf("install: %d to %q:\n%s", code, loc, body)
	}
	up := composeUp(t, project, 4*time.Minute, &wizOut)
	if up.PPID != wiz.Process.Pid {
		t.Fatalf("the compose up %s is not the wizard's (pid %d)", up, wiz.Process.Pid)
	}
	codeA, exported, stderr := runApp(t, "answers", "--dir", dir, "--state-dir", state)
	if codeA != 0 {
		t.Fatalf("answers: exit %d: %s", codeA, stderr)
	}
	answersFile := filepath.Join(t.TempDir(), "answers.yaml")
	if err := os.WriteFile(answersFile, []byte(exported), 0o600); err != nil {
		t.Fatal(err)
	}
	applyArgs := []string{"apply", "--answers", answersFile, "--dir", dir, "--state-dir", state, "--project", project,
		"--http-addr", "127.0.0.1:0", "--standin-binary", bin, "--expect-timeout", "4m"}
	code, stdout, stderr := runApp(t, applyArgs...)
	wantHolder = fmt.Sprintf("held by `%s` (pid %d on ", steps.HolderWizard, wiz.Process.Pid)
	if code != 1 || !strings.Contains(stderr, wantHolder) || !strings.Contains(stderr, "nothing was changed") {
		t.Fatalf("apply during the wizard's install: exit %d, want 1 naming %q\nstdout: %s\nstderr: %s", code, wantHolder, stdout, stderr)
	}
	if !running(t, project, up.PID) {
		t.Fatal("the refused apply touched the wizard's Compose")
	}

	// 3. The wizard is killed in the middle of `up`: its Compose lives on.
	if err := wiz.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	wiz.Wait()
	if !running(t, project, up.PID) {
		t.Fatalf("the Compose process %s died with the wizard: nothing to show", up)
	}

	// 4. The next apply takes the state over: it says the wizard's
	// install was interrupted and stops the leftover Compose before it
	// does anything else. (It is stopped once that is shown: the rest of
	// apply is TestApplyExportedAnswers.)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut testenv.Buffer
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, append([]string{"carto-setup"}, applyArgs...), func(string) string { return "" }, &out, &errOut)
	}()
	testenv.WaitFor(t, "apply to stop the leftover Compose", time.Minute, func() bool {
		return strings.Contains(errOut.String(), "Stopping a Compose process") && !running(t, project, up.PID)
	})
	t.Logf("apply after the kill:\n%s", &errOut)
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Error("apply did not stop after its context was cancelled")
	}
	text := errOut.String()
	if want := fmt.Sprintf("The previous install by `%s` (pid %d on ", steps.HolderWizard, wiz.Process.Pid); !strings.Contains(text, want) {
		t.Errorf("apply does not say the wizard's install was interrupted (%q):\n%s", want, text)
	}
	if want := fmt.Sprintf("pid %d (", up.PID); !strings.Contains(text, want) {
		t.Errorf("apply does not name the Compose process it stopped (%q):\n%s", want, text)
	}
}

// TestRenewWaitsForTheInstallLock: renew refuses while an install holds
// the state directory, naming it; with --wait it waits for it, and runs
// once the lock is released.
func TestRenewWaitsForTheInstallLock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	state := filepath.Join(dir, ".carto-setup")
	store := wizard.NewFileStore(filepath.Join(state, "state.json"), time.Now)
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Update(func(st *wizard.State) error { st.TLS.Mode = wizard.TLSSelfSigned; return nil }); err != nil {
		t.Fatal(err)
	}
	held, err := steps.LockInstall(context.Background(), state, steps.HolderWizard, 0, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"renew", "--dir", dir, "--http-addr", "127.0.0.1:0"}
	code, _, stderr := runApp(t, args...)
	want := fmt.Sprintf("held by `%s` (pid %d on ", steps.HolderWizard, os.Getpid())
	if code != 1 || !strings.Contains(stderr, want) || !strings.Contains(stderr, "--wait") {
		t.Fatalf("renew while locked: exit %d, want 1 naming %q and --wait:\n%s", code, want, stderr)
	}
	code, _, stderr = runApp(t, append(args, "--wait", "300ms")...)
	if code != 1 || !strings.Contains(stderr, "waited 300ms") {
		t.Fatalf("renew --wait 300ms while locked: exit %d:\n%s", code, stderr)
	}
	go func() {
		time.Sleep(500 * time.Millisecond)
		held.Release()
	}()
	code, stdout, stderr := runApp(t, append(args, "--wait", "1m")...)
	if code != 0 || !strings.Contains(stdout, "nothing to renew") {
		t.Fatalf("renew --wait 1m released after 0.5s: exit %d\n%s%s", code, stdout, stderr)
	}
}
