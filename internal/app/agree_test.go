package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/carto-setup/carto-setup/internal/auth"
	"github.com/carto-setup/carto-setup/internal/certcheck"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/cli"
	"github.com/carto-setup/carto-setup/internal/config"
	"github.com/carto-setup/carto-setup/internal/dbcheck"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/preflight"
	"github.com/carto-setup/carto-setup/internal/server"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// agreeDomain fails DNS for every domain, with an overridable failure.
type agreeDomain struct{}

func (agreeDomain) NewNonce() string { return "0123456789abcdef0123456789abcdef" }

func (agreeDomain) Check(_ context.Context, domain, _ string) []check.Result {
	return []check.Result{{Step: "domain", ID: "domain.resolves", Status: check.Fail, Field: wizard.FieldDomain,
		Measured: "NXDOMAIN", Required: "resolves to this VM", Message: domain + " does not resolve.", Hint: "Add an A record."}}
}

// agreeDeps are the steps' checkers for both front ends: deterministic
// fakes where the check would reach outside (this test is about the front
// ends, not the checks), the real package, certificate and bucket logic.
func agreeDeps(releaseDir string, now func() time.Time) steps.Deps {
	return steps.Deps{
		ReleaseDir: releaseDir, Now: now, Log: slog.New(slog.DiscardHandler),
		Preflight: steps.PreflightFunc(func(context.Context, preflight.Config) []check.Result {
			return []check.Result{
				{Step: "preflight", ID: "preflight.cpu", Status: check.Warn, Measured: "2 CPUs", Required: "4 CPUs", Message: "Fewer CPUs than CARTO asks for."},
				{Step: "preflight", ID: "preflight.memory", Status: check.Fail, Measured: "8 GB", Required: "16 GB", Message: "Not enough memory."},
				{Step: "preflight", ID: "preflight.release_files", Status: check.Pass, Message: "The release files are there."},
			}
		}),
		Domain: agreeDomain{},
		Database: steps.DatabaseFunc(func(_ context.Context, c dbcheck.Config) []check.Result {
			return []check.Result{{Step: "database", ID: "database.auth", Status: check.Pass, Measured: "signed in as " + c.AdminUser, Message: "Signed in."}}
		}),
	}
}

// TestWizardAndCommandLineAgree drives every step with the same inputs
// through the wizard (the full handler over a real file store) and through
// `carto-setup check` and `apply`: each step gives the same results, and
// the state both leave behind is the same. The overrides are the same
// reasons typed in the wizard and written in the answers file.
func TestWizardAndCommandLineAgree(t *testing.T) {
	now := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	rel := t.TempDir()
	if err := release.Write(rel, ""); err != nil {
		t.Fatal(err)
	}
	pkg := t.TempDir()
	key, err := release.SampleKeyJSON()
	if err != nil {
		t.Fatal(err)
	}
	customerEnv := release.SampleCustomerEnv("carto.example.com")
	certPEM, keyPEM, _, err := certcheck.SelfSigned("carto.agree.test", now.AddDate(-2, 0, 0)) // expired a year ago: tls.validity fails, and may be overridden
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(pkg, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("customer.env", customerEnv)
	write("key.json", key)
	write("cert.pem", certPEM)
	write("key.pem", keyPEM)
	write("pg-admin", []byte("Admin-Secret-1\n"))
	write("pg-ws", []byte("Ws-Secret-1\n"))
	reasons := map[string]string{"preflight.memory": "pilot VM", "domain.resolves": "DNS changes tonight", "tls.validity": "a renewed certificate is on its way"}
	answersFile := write("answers.yaml", []byte(`version: 1
package: {customer_env: customer.env, key_json: key.json}
domain: carto.agree.test
database:
  mode: external
  host: db.internal
  admin_password_file: pg-admin
  workspace_password_file: pg-ws
cache: {mode: embedded}
tls: {mode: upload, cert_file: cert.pem, key_file: key.pem}
buckets: {mode: carto-managed}
overrides:
  - {check: preflight.memory, reason: pilot VM}
  - {check: domain.resolves, reason: DNS changes tonight}
  - {check: tls.validity, reason: a renewed certificate is on its way}
`))

	// The wizard.
	wizDir := t.TempDir()
	store := wizard.NewFileStore(filepath.Join(wizDir, "state.json"), clock)
	a, tok, err := auth.Open(wizDir, clock)
	if err != nil {
		t.Fatal(err)
	}
	session, err := a.SignIn(tok)
	if err != nil {
		t.Fatal(err)
	}
	runner, err := jobs.NewRunner(t.Context(), filepath.Join(wizDir, "jobs"), clock)
	if err != nil {
		t.Fatal(err)
	}
	wizSteps := steps.New(agreeDeps(rel, clock), store)
	smoker := steps.NewSmoker(steps.SmokeConfig{Runner: runner, Steps: wizSteps, ReleaseDir: rel, StateDir: wizDir})
	h := server.NewHandler(server.Deps{Log: slog.New(slog.DiscardHandler), Auth: a, Throttle: auth.NewThrottle(clock), Store: store, Now: clock,
		HostNames: []string{"127.0.0.1"}, SelfSigned: true, Steps: wizSteps, Smoke: smoker, Bundle: smoker})
	post := func(path string, fields map[string]string, files map[string][]byte) *http.Response {
		t.Helper()
		var body bytes.Buffer
		contentType := "application/x-www-form-urlencoded"
		if path == "/steps/preflight" || path == "/steps/domain" || path == "/steps/smoke" {
			form := url.Values{}
			for k, v := range fields {
				form.Set(k, v)
			}
			body.WriteString(form.Encode())
		} else { // the steps that take uploads read multipart forms
			mw := multipart.NewWriter(&body)
			for k, v := range fields {
				mw.WriteField(k, v)
			}
			for name, data := range files {
				fw, _ := mw.CreateFormFile(name, name)
				fw.Write(data)
			}
			mw.Close()
			contentType = mw.FormDataContentType()
		}
		req := httptest.NewRequest(http.MethodPost, path, &body)
		req.Host = "127.0.0.1"
		req.Header.Set("Content-Type", contentType)
		req.AddCookie(&http.Cookie{Name: server.SessionCookie, Value: session})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Result()
	}
	override := func(fields map[string]string) map[string]string {
		for id, reason := range reasons {
			fields[wizard.OverrideField(id)] = reason
		}
		return fields
	}
	walk := []struct {
		step   wizard.Step
		fields map[string]string
		files  map[string][]byte
	}{
		{wizard.Preflight, map[string]string{"action": "rerun"}, nil},
		{wizard.Preflight, override(map[string]string{"action": "next"}), nil},
		{wizard.Package, map[string]string{"action": "upload"}, map[string][]byte{"customer_env": customerEnv, "key_json": key}},
		{wizard.Package, map[string]string{"action": "next"}, nil},
		{wizard.Domain, override(map[string]string{"domain": "carto.agree.test", "action": "next"}), nil},
		{wizard.Database, override(map[string]string{"db_mode": "external", "host": "db.internal", "port": "5432", "admin_user": "postgres",
			"admin_password": "Admin-Secret-1", "admin_database": "postgres", "workspace_user": "workspace_admin", "workspace_password": "Ws-Secret-1",
			"workspace_database": "workspace", "ssl": "on", "ssl_mode": "require", "cache_mode": "embedded", "cache_port": "6379", "action": "next"}), nil},
		{wizard.TLS, override(map[string]string{"tls_mode": "upload", "action": "next"}), map[string][]byte{"cert": certPEM, "key": keyPEM}},
		{wizard.Buckets, override(map[string]string{"buckets_mode": "carto-managed", "thumbnails_public": "on", "action": "next"}), nil},
		{wizard.Advanced, map[string]string{"action": "next"}, nil},
	}
	for _, w := range walk {
		res := post("/steps/"+string(w.step), w.fields, w.files)
		if res.StatusCode != http.StatusSeeOther {
			body, _ := io.ReadAll(res.Body)
			t.Fatalf("wizard %s %s: %d\n%s", w.step, w.fields["action"], res.StatusCode, body)
		}
	}
	wiz, err := store.Load()
	if err != nil {
		t.Fatal(err)
	}

	// The command line, with the same checkers.
	env := newEnv(func(string) string { return "" }, io.Discard, io.Discard, options{now: clock})
	env.Wire = func(_ context.Context, cfg config.Config, log *slog.Logger, _ cli.WireOptions) (*cli.Wiring, error) {
		return &cli.Wiring{Config: cfg, Steps: agreeDeps(rel, clock), Close: func() {}, ClosePort80: func() {}}, nil
	}
	cliDir := t.TempDir()
	var stdout, stderr bytes.Buffer
	env.Stdout, env.Stderr = &stdout, &stderr
	if err := cli.Check(context.Background(), env, []string{"--answers", answersFile, "--json", "--dir", rel, "--state-dir", cliDir}); err != nil {
		t.Fatalf("check: %v\n%s", err, &stderr)
	}
	var checked struct{ Checks []check.Result }
	if err := json.Unmarshal(stdout.Bytes(), &checked); err != nil {
		t.Fatal(err)
	}
	// apply runs the same steps and saves the state before it installs;
	// with no Docker behind it the install itself fails, which this test
	// does not look at.
	t.Setenv("DOCKER_HOST", "unix:///nonexistent.sock")
	stdout.Reset()
	stderr.Reset()
	applyErr := cli.Apply(context.Background(), env, []string{"--answers", answersFile, "--dir", rel, "--state-dir", cliDir, "--project", "agreetest"})
	if !strings.Contains(stderr.String(), "install failed") {
		t.Fatalf("apply did not reach the install: %v\n%s", applyErr, &stderr)
	}
	applied, err := wizard.NewFileStore(filepath.Join(cliDir, "state.json"), clock).Load()
	if err != nil {
		t.Fatal(err)
	}

	// Same results, step by step: the wizard's stored runs and check's.
	for _, s := range []wizard.Step{wizard.Preflight, wizard.Package, wizard.Domain, wizard.Database, wizard.TLS, wizard.Buckets} {
		var fromWizard, fromCheck []string
		for _, r := range wiz.Checks[s].Results {
			fromWizard = append(fromWizard, r.ID+" "+string(r.Status)+" "+r.Message)
		}
		for _, r := range checked.Checks {
			if stepOf(r) == s {
				fromCheck = append(fromCheck, r.ID+" "+string(r.Status)+" "+r.Message)
			}
		}
		if len(fromWizard) == 0 {
			t.Errorf("%s: the wizard stored no results", s)
		}
		if diff := cmp.Diff(fromWizard, fromCheck); diff != "" {
			t.Errorf("%s: results differ (-wizard +check):\n%s", s, diff)
		}
	}

	// Same state: inputs, check runs, overrides and what is done.
	ignore := cmpopts.IgnoreFields(wizard.State{}, "Revision", "UpdatedAt")
	wiz.Domain.BrowserNonce, applied.Domain.BrowserNonce = "", ""
	for _, s := range []wizard.Step{wizard.Review, wizard.Install} {
		delete(applied.Done, s) // apply goes on past the last step the wizard walked
	}
	if diff := cmp.Diff(wiz, applied, ignore, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("state differs (-wizard +apply):\n%s", diff)
	}
	for id, reason := range reasons {
		if o, ok := applied.Overridden(id); !ok || o.Reason != reason {
			t.Errorf("apply did not record the override of %s: %+v", id, o)
		}
	}

	// The smoke test: a run with an overridable failure is continued past
	// with a reason in the wizard's smoke step, and by the Continue that
	// apply calls after its own run, to the same state.
	smokeRun := wizard.NewCheckRun(now, []check.Result{
		{Step: "smoke", ID: "smoke.services", Status: check.Pass, Message: "Every service is in its expected state."},
		{Step: "smoke", ID: "smoke.health.workspace-api", Status: check.Fail, Message: "workspace-api does not answer its health check."},
	})
	const smokeReason = "workspace-api is restarted by the night job"
	for _, st := range []wizard.Store{store, wizard.NewFileStore(filepath.Join(cliDir, "state.json"), clock)} {
		if _, err := st.Update(func(s *wizard.State) error {
			s.MarkDone(wizard.Review)
			s.MarkDone(wizard.Install)
			s.SetChecks(wizard.Smoke, smokeRun)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if res := post("/steps/smoke", map[string]string{"action": "next"}, nil); res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("wizard smoke without a reason: %d, want 422", res.StatusCode)
	}
	if res := post("/steps/smoke", map[string]string{"action": "next", wizard.OverrideField("smoke.health.workspace-api"): smokeReason}, nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("wizard smoke with a reason: %d, want 303", res.StatusCode)
	}
	cliSteps := steps.New(agreeDeps(rel, clock), wizard.NewFileStore(filepath.Join(cliDir, "state.json"), clock))
	if out, _, err := cliSteps.Continue(wizard.Smoke, nil); err != nil || !out.Refused() {
		t.Fatalf("headless smoke without a reason: %v, refused %v", err, out.Refused())
	}
	if out, _, err := cliSteps.Continue(wizard.Smoke, map[string]string{"smoke.health.workspace-api": smokeReason}); err != nil || out.Refused() {
		t.Fatalf("headless smoke with a reason: %v, %v", err, out.Errors)
	}
	wiz, _ = store.Load()
	applied, _ = wizard.NewFileStore(filepath.Join(cliDir, "state.json"), clock).Load()
	wiz.Domain.BrowserNonce, applied.Domain.BrowserNonce = "", ""
	if !wiz.Done[wizard.Smoke] {
		t.Error("the wizard did not mark the smoke test done")
	}
	if diff := cmp.Diff(wiz, applied, ignore, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("state after the smoke override differs (-wizard +headless):\n%s", diff)
	}
}

// stepOf is the wizard step a result belongs to; the cache's results are
// on the database page.
func stepOf(r check.Result) wizard.Step {
	step, _, _ := strings.Cut(r.ID, ".")
	switch step {
	case "cache":
		return wizard.Database
	case "package":
		return wizard.Package
	}
	return wizard.Step(step)
}
