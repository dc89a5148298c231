package server

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/carto-setup/carto-setup/internal/bundle"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// fakeSmoker runs no checks: Start records the call and the test sets the
// state the real job would.
type fakeSmoker struct {
	mu      sync.Mutex
	job     jobs.Record
	started int
	ticks   map[string]bool
}

func (f *fakeSmoker) Start(wizard.State) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.job.ID != "" && !f.job.Done() {
		return "", jobs.ErrBusy
	}
	f.started++
	f.job = jobs.Record{ID: "smoke1", Kind: "smoke", Status: jobs.Running, Started: time.Now()}
	return f.job.ID, nil
}

func (f *fakeSmoker) Latest() (jobs.Record, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.job, f.job.ID != ""
}

func (f *fakeSmoker) Checklist() (map[string]bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]bool{}
	for k, v := range f.ticks {
		out[k] = v
	}
	return out, nil
}

func (f *fakeSmoker) SaveChecklist(t map[string]bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ticks = t
	return nil
}

// fakeBundler builds a bundle from a file that holds a secret.
type fakeBundler struct{}

const bundleSecret = "Sup3r-Secret-Password"

func (fakeBundler) Build(context.Context) (*bundle.Bundle, error) {
	return bundle.Build([]bundle.File{
		{Name: "release/.env", Data: []byte("POSTGRES_ADMIN_PASSWORD=" + bundleSecret + "\nSELFHOSTED_DOMAIN=carto.example.com\n"), Env: true},
		{Name: "logs/router-http.log", Data: []byte("GET /" + bundleSecret + " 404\n")},
	}, []bundle.Secret{{What: "database admin password", Value: bundleSecret}}, "test", time.Now())
}

func smokeFixture(t *testing.T) (*fixture, *fakeSmoker) {
	t.Helper()
	f := newFixture(t)
	sm := &fakeSmoker{}
	f.deps.Smoke, f.deps.Bundle = sm, fakeBundler{}
	f.router = routes(f.deps)
	return f, sm
}

// installed marks every step up to the install done.
func installed(t *testing.T, f *fixture, results ...check.Result) {
	t.Helper()
	if _, err := f.deps.Store.Update(func(st *wizard.State) error {
		for _, s := range wizard.Steps {
			if s != wizard.Smoke {
				st.MarkDone(s)
			}
		}
		st.Domain.Domain = "carto.example.com"
		if results != nil {
			st.SetChecks(wizard.Smoke, wizard.NewCheckRun(time.Now(), results))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) smokeGet(t *testing.T, path string) *http.Response {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.AddCookie(f.cookie)
	return f.do(t, req)
}

func (f *fixture) smokePost(t *testing.T, path string, form url.Values) *http.Response {
	t.Helper()
	req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(f.cookie)
	return f.do(t, req)
}

func smokeDoc(t *testing.T, res *http.Response) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var failedSmoke = []check.Result{
	{Step: "smoke", ID: "smoke.service.router-http", Status: check.Pass, Message: "router-http is running."},
	{Step: "smoke", ID: "smoke.tls.certificate", Status: check.Fail, Message: "The router presents a different certificate.", Hint: "Restart router-http."},
}

func TestSmokeStepBeforeInstall(t *testing.T) {
	f, _ := smokeFixture(t)
	res := f.smokeGet(t, "/steps/smoke")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/steps/preflight" {
		t.Fatalf("GET /steps/smoke before the install: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if res := f.smokeGet(t, "/finish"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET /finish before the smoke test: %d", res.StatusCode)
	}
}

func TestSmokeStepRunChecklistAndContinue(t *testing.T) {
	f, sm := smokeFixture(t)
	installed(t, f)

	res := f.smokeGet(t, "/steps/smoke")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /steps/smoke: %d", res.StatusCode)
	}
	d := smokeDoc(t, res)
	if n := d.Find(`ul.checklist li[data-item]`).Length(); n != 6 {
		t.Errorf("%d checklist items, want 6", n)
	}
	if d.Find(`button[value="next"]`).Length() != 0 {
		t.Error("Continue is offered before any run")
	}

	res = f.smokePost(t, "/steps/smoke", url.Values{"action": {"run"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/steps/smoke" || sm.started != 1 {
		t.Fatalf("run: %d %s, started %d", res.StatusCode, res.Header.Get("Location"), sm.started)
	}
	// While it runs the page refreshes itself and a second run is refused
	// quietly.
	d = smokeDoc(t, f.smokeGet(t, "/steps/smoke"))
	if d.Find(`meta[http-equiv="refresh"]`).Length() != 1 || d.Find(`#smoke-job[data-status="running"]`).Length() != 1 {
		t.Error("the running page does not refresh itself")
	}
	if res := f.smokePost(t, "/steps/smoke", url.Values{"action": {"run"}}); res.StatusCode != http.StatusSeeOther || sm.started != 1 {
		t.Errorf("second run while running: %d, started %d", res.StatusCode, sm.started)
	}
	if res := f.smokePost(t, "/steps/smoke", url.Values{"action": {"next"}}); res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("continue while running: %d, want 422", res.StatusCode)
	}

	// The job ends with a failure.
	sm.mu.Lock()
	sm.job.Status, sm.job.Error = "failed", "1 check(s) did not pass: smoke.tls.certificate"
	sm.mu.Unlock()
	installed(t, f, failedSmoke...)

	res = f.smokePost(t, "/steps/smoke", url.Values{"action": {"checklist"}, "item.signin": {"on"}, "item.thumbnail": {"on"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("save checklist: %d", res.StatusCode)
	}
	if !sm.ticks["signin"] || !sm.ticks["thumbnail"] || sm.ticks["import"] {
		t.Errorf("saved ticks %v", sm.ticks)
	}
	d = smokeDoc(t, f.smokeGet(t, "/steps/smoke"))
	if _, ok := d.Find(`#item-signin`).Attr("checked"); !ok {
		t.Error("the saved tick is not shown")
	}
	if _, ok := d.Find(`#item-import`).Attr("checked"); ok {
		t.Error("an unticked item is shown ticked")
	}
	if d.Find(`tr[data-check="smoke.tls.certificate"][data-status="fail"]`).Length() != 1 {
		t.Error("the failed check is not shown")
	}

	// Continuing past a failure needs a reason.
	res = f.smokePost(t, "/steps/smoke", url.Values{"action": {"next"}})
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("continue past a failure without a reason: %d", res.StatusCode)
	}
	d = smokeDoc(t, res)
	if d.Find(`#e-override\.smoke\.tls\.certificate`).Length() == 0 {
		t.Error("no error next to the override field")
	}
	res = f.smokePost(t, "/steps/smoke", url.Values{"action": {"next"}, "override.smoke.tls.certificate": {"certificate replaced tomorrow"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/finish" {
		t.Fatalf("continue with a reason: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	st, _ := f.deps.Store.Load()
	if !st.Done[wizard.Smoke] {
		t.Error("the smoke step is not done")
	}
	if o, ok := st.Overridden("smoke.tls.certificate"); !ok || o.Reason != "certificate replaced tomorrow" {
		t.Errorf("override %+v %v", o, ok)
	}

	d = smokeDoc(t, f.smokeGet(t, "/finish"))
	if href, _ := d.Find(`#links a`).First().Attr("href"); href != "https://carto.example.com/" {
		t.Errorf("the first link is %q", href)
	}
	if d.Find(`#finish-checklist li[data-done="true"]`).Length() != 2 {
		t.Error("the summary does not show the two ticked items")
	}
}

func TestLockClosesTheWizard(t *testing.T) {
	f, _ := smokeFixture(t)
	installed(t, f)
	if _, err := f.deps.Store.Update(func(st *wizard.State) error { st.MarkDone(wizard.Smoke); return nil }); err != nil {
		t.Fatal(err)
	}
	// Without the confirmation nothing happens.
	if res := f.smokePost(t, "/finish/lock", url.Values{"action": {"lock"}}); res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("lock without confirmation: %d", res.StatusCode)
	}
	if res := f.smokeGet(t, "/steps/preflight"); res.StatusCode != http.StatusOK {
		t.Fatalf("the wizard locked without confirmation: %d", res.StatusCode)
	}
	res := f.smokePost(t, "/finish/lock", url.Values{"action": {"lock"}, "confirm": {"lock"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("lock: %d", res.StatusCode)
	}
	if smokeDoc(t, res).Find("#locked").Length() != 1 {
		t.Error("no locked page")
	}
	// Every step page and the install action are closed to the old
	// session, and the old token no longer signs in.
	for _, path := range []string{"/steps/preflight", "/steps/review", "/steps/smoke", "/finish", "/bundle"} {
		if res := f.smokeGet(t, path); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/signin" {
			t.Errorf("GET %s after the lock: %d %s", path, res.StatusCode, res.Header.Get("Location"))
		}
	}
	if res := f.smokePost(t, "/steps/review", url.Values{"action": {"install"}}); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("install after the lock: %d", res.StatusCode)
	}
	res = f.do(t, httptest.NewRequest("GET", "/signin?token="+f.token, nil))
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "The wizard is locked") {
		t.Errorf("sign-in with the old token after the lock: %d, want 403 saying the wizard is locked", res.StatusCode)
	}
	// carto-setup token opens it again.
	tok, err := f.deps.Auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	res = f.do(t, httptest.NewRequest("GET", "/signin?token="+tok, nil))
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Errorf("sign-in with a new token: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestBundlePreviewAndDownload(t *testing.T) {
	f, _ := smokeFixture(t)
	res := f.smokeGet(t, "/bundle")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /bundle: %d", res.StatusCode)
	}
	body, _ := io.ReadAll(res.Body)
	if strings.Contains(string(body), bundleSecret) {
		t.Fatal("the preview shows the secret")
	}
	for _, name := range []string{bundle.ManifestFile, bundle.RedactionFile, "release/.env", "logs/router-http.log"} {
		if !strings.Contains(string(body), `data-file="`+name+`"`) {
			t.Errorf("the preview does not list %s", name)
		}
	}
	res = f.smokeGet(t, "/bundle/download")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/gzip" || !strings.Contains(res.Header.Get("Content-Disposition"), ".tar.gz") {
		t.Fatalf("download: %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"))
	}
	gz, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	n := 0
	for {
		_, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		if strings.Contains(string(data), bundleSecret) {
			t.Error("the download holds the secret")
		}
		n++
	}
	if n != 4 {
		t.Errorf("%d files in the download, want 4", n)
	}
}

func TestSmokePagesWithoutSmoker(t *testing.T) {
	f := newFixture(t)
	installed(t, f)
	for _, path := range []string{"/steps/smoke", "/bundle", "/bundle/download"} {
		if res := f.smokeGet(t, path); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s without a smoker: %d", path, res.StatusCode)
		}
	}
}
