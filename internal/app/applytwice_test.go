package app_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/certcheck"
	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/e2e"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/pgtest"
	"github.com/carto-setup/carto-setup/internal/selfsigned"
	"github.com/carto-setup/carto-setup/internal/testenv"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// applyOutput is `apply --json`: the checks and the plan.
type applyOutput struct {
	checkOutput
	Plan *deploy.Report `json:"plan"`
}

// status returns the status of the check id, or "" when it did not run.
func (o applyOutput) status(id string) string {
	for _, c := range o.Checks {
		if c.ID == id {
			return c.Status
		}
	}
	return ""
}

func decodeApply(t *testing.T, stdout string) applyOutput {
	t.Helper()
	var out applyOutput
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("apply --json: %v\n%s", err, stdout)
	}
	if out.Plan == nil {
		t.Fatalf("apply --json has no plan:\n%s", stdout)
	}
	return out
}

// startedAt returns when each container of the project last started.
func startedAt(ctx context.Context, t *testing.T, eng *engine.Client, project string) map[string]time.Time {
	t.Helper()
	list, err := eng.ProjectContainers(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]time.Time{}
	for _, c := range list {
		info, err := eng.InspectContainer(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		out[c.Name] = info.StartedAt
	}
	return out
}

// servedFingerprint returns the fingerprint of the certificate the router
// serves on port, waiting up to a minute for want.
func servedFingerprint(t *testing.T, port int, want string) string {
	t.Helper()
	var got string
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			&tls.Config{InsecureSkipVerify: true}) // the certificate itself is compared
		if err != nil {
			continue
		}
		got = selfsigned.Fingerprint(conn.ConnectionState().PeerCertificates[0].Raw)
		conn.Close()
		if got == want {
			break
		}
	}
	return got
}

// TestApplySameAnswersTwice installs the stand-in release with `apply`,
// applies the same answers again, and then a replacement certificate:
//   - the second apply changes no file (content, inode, time), restarts no
//     container, reuses the self-signed certificate and passes the smoke
//     test;
//   - the replacement certificate is written, router-http (which mounts
//     it) is restarted and serves it, and the smoke test passes.
func TestApplySameAnswersTwice(t *testing.T) {
	e2e.NeedDocker(t)
	bin := e2e.StaticBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	eng, err := engine.New(ctx)
	if err != nil {
		testenv.Missing(t, "Docker Engine", err.Error())
	}
	t.Cleanup(func() { eng.Close() })
	const domain = "carto.twice.test"
	id := rand.IntN(1e6)
	version, project := fmt.Sprintf("2026.8.11-twice%d", id), fmt.Sprintf("twice%06d", id)
	dir, pkg, stateDir := t.TempDir(), t.TempDir(), t.TempDir()
	if err := release.Write(dir, version); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if tool, err := compose.Detect(cctx, exec.LookPath, compose.Exec); err == nil {
			argv := tool.Args(project, dir, "down", "-v", "--remove-orphans")
			cmd := exec.CommandContext(cctx, argv[0], argv[1:]...)
			cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
			if err := cmd.Run(); err != nil {
				t.Logf("compose down: %v", err)
			}
		}
		if err := release.RemoveImages(cctx, eng, version); err != nil {
			t.Logf("remove images: %v", err)
		}
	})
	pg := pgtest.Start(t, pgtest.Options{ListenAddrs: []string{"172.17.0.1"}})
	https := testenv.FreePortAll(t)
	env := fmt.Appendf(release.SampleCustomerEnv("carto3-onprem.lan"), "ROUTER_HTTP_PORT=%d\nROUTER_HTTPS_PORT=%d\nROUTER_METRICS_PORT=%d\n",
		testenv.FreePortAll(t), https, testenv.FreePortAll(t))
	key, err := release.SampleKeyJSON()
	if err != nil {
		t.Fatal(err)
	}
	put := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(pkg, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	put("customer.env", env)
	put("key.json", key)
	put("pg-admin", []byte(pg.Password))
	put("pg-workspace", []byte("twice-Workspace-Secret-1"))
	closed := fmt.Sprintf("127.0.0.1:%d", testenv.ClosedPort(t))
	common := []string{"--dir", dir, "--state-dir", stateDir, "--http-addr", "127.0.0.1:0", "--resolver", closed}
	answers := func(tlsSection, overrides string) string {
		return put(fmt.Sprintf("answers-%d.yaml", time.Now().UnixNano()), []byte(fmt.Sprintf(`version: 1
package: {customer_env: %[1]s/customer.env, key_json: %[1]s/key.json}
domain: %[2]s
database:
  mode: external
  host: 172.17.0.1
  port: %[3]d
  admin_user: %[4]s
  admin_password_file: %[1]s/pg-admin
  workspace_password_file: %[1]s/pg-workspace
  ssl: false
tls: %[5]s
buckets: {mode: carto-managed}
%[6]s`, pkg, domain, pg.Port, pg.User, tlsSection, overrides)))
	}
	// This machine's failures (CPUs, egress, DNS) get a reason.
	code, stdout, stderr := runApp(t, append([]string{"check", "--json", "--answers", answers("{mode: self-signed}", ""), "--state-dir", t.TempDir()}, common[:2]...)...)
	if code == 2 {
		t.Fatalf("check: invalid answers: %s", stderr)
	}
	overrides := "overrides:\n"
	for _, c := range decodeChecks(t, stdout).Checks {
		if c.Status == "fail" || c.Status == "error" {
			overrides += fmt.Sprintf("  - {check: %s, reason: test machine}\n", c.ID)
		}
	}
	selfSigned := answers("{mode: self-signed}", overrides)
	// apply installs with file; the smoke test must pass but for the
	// checks the answers continue past (overridden).
	apply := func(file string, overridden ...string) applyOutput {
		t.Helper()
		code, stdout, stderr := runApp(t, append([]string{"apply", "--json", "--answers", file, "--project", project,
			"--standin-binary", bin, "--expect-timeout", "4m"}, common...)...)
		if code != 0 {
			t.Fatalf("apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		out := decodeApply(t, stdout)
		for _, c := range out.Checks {
			if strings.HasPrefix(c.ID, "smoke.") && (c.Status == "fail" || c.Status == "error") && !slices.Contains(overridden, c.ID) {
				t.Errorf("smoke check %s: %s", c.ID, c.Status)
			}
		}
		return out
	}
	state := func() wizard.State {
		t.Helper()
		st, err := wizard.NewFileStore(filepath.Join(stateDir, "state.json"), time.Now).Load()
		if err != nil {
			t.Fatal(err)
		}
		return st
	}

	apply(selfSigned)
	first := state()
	if first.TLS.Mode != wizard.TLSSelfSigned || first.TLS.Fingerprint == "" {
		t.Fatalf("no self-signed certificate in the state: %+v", first.TLS.Mode)
	}
	if got := servedFingerprint(t, https, first.TLS.Fingerprint); got != first.TLS.Fingerprint {
		t.Fatalf("the router serves %s, want the installed %s", got, first.TLS.Fingerprint)
	}
	files, started := snapshot(t, dir), startedAt(ctx, t, eng, project)
	time.Sleep(1100 * time.Millisecond) // a rewrite or restart would show a later time

	// The same answers again: nothing changes, nothing restarts.
	again := apply(selfSigned)
	for _, f := range again.Plan.Files {
		if f.Action != deploy.FileUnchanged {
			t.Errorf("the second apply plans %s for %s", f.Action, f.Path)
		}
	}
	if len(again.Plan.Restarts) != 0 {
		t.Errorf("the second apply plans restarts: %+v", again.Plan.Restarts)
	}
	sameFiles(t, "release directory after the same answers", files, snapshot(t, dir))
	// Compose runs the one-shot workspace-migrations job again on every
	// `up` (it exited, and it is idempotent); no service is restarted.
	if now := startedAt(ctx, t, eng, project); !equalTimes(withoutMigrations(now), withoutMigrations(started)) {
		t.Errorf("services restarted by the same answers:\nbefore %v\nafter  %v", started, now)
	}
	if st := state(); st.TLS.CertPEM != first.TLS.CertPEM {
		t.Error("the self-signed certificate was generated again")
	}

	// A replacement certificate: written, router-http restarted, served.
	certPEM, keyPEM, fp, err := certcheck.SelfSigned(domain, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	put("new.crt", certPEM)
	put("new.key", keyPEM)
	// Its chain leads to no public root, which the smoke test says; the
	// admin continues past that with a reason.
	replaced := apply(answers(fmt.Sprintf("{mode: upload, cert_file: %[1]s/new.crt, key_file: %[1]s/new.key}", pkg),
		overrides+"  - {check: smoke.tls.chain, reason: the test certificate is self-signed}\n"), "smoke.tls.chain")
	if !slices.ContainsFunc(replaced.Plan.Restarts, func(r deploy.Restart) bool {
		return r.Service == "router-http" && slices.Contains(r.Files, filepath.Join(deploy.CertsDir, deploy.RouterCertFile))
	}) {
		t.Errorf("router-http is not restarted for its new certificate: %+v", replaced.Plan.Restarts)
	}
	if got := servedFingerprint(t, https, fp); got != fp {
		t.Errorf("after apply the router serves %s, want the uploaded %s", got, fp)
	}
	after := startedAt(ctx, t, eng, project)
	for name, at := range after {
		restarted := !at.Equal(started[name])
		if strings.Contains(name, "router-http") != restarted && !strings.Contains(name, deploy.MigrationsService) {
			t.Errorf("%s restarted: %v (only router-http reads the certificate)", name, restarted)
		}
	}
}

// withoutMigrations drops the one-shot migrations job.
func withoutMigrations(m map[string]time.Time) map[string]time.Time {
	out := map[string]time.Time{}
	for k, v := range m {
		if !strings.Contains(k, deploy.MigrationsService) {
			out[k] = v
		}
	}
	return out
}

func equalTimes(a, b map[string]time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !b[k].Equal(v) {
			return false
		}
	}
	return true
}
