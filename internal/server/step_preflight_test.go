package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/preflight"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

var fakePreflight = []check.Result{
	{Step: "preflight", ID: "preflight.memory", Status: check.Warn, Message: "Memory is a little low", Measured: "15.0 GiB", Required: "16 GB"},
	{Step: "preflight", ID: "preflight.cpu", Status: check.Fail, Message: "Too few CPUs", Measured: "2", Required: "4", Hint: "Resize the VM"},
	{Step: "preflight", ID: "preflight.docker", Status: check.Pass, Message: "Docker Engine 20.10.24"},
}

func (f *fixture) post(t *testing.T, path string, form url.Values) (*http.Response, *goquery.Document) {
	t.Helper()
	req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(f.cookie)
	res := f.do(t, req)
	doc, _ := goquery.NewDocumentFromReader(res.Body)
	return res, doc
}

func (f *fixture) get(t *testing.T, path string) (*http.Response, *goquery.Document) {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.AddCookie(f.cookie)
	res := f.do(t, req)
	doc, _ := goquery.NewDocumentFromReader(res.Body)
	return res, doc
}

func TestPreflightStep(t *testing.T) {
	f := newFixture(t)
	res, doc := f.get(t, "/steps/preflight")
	if res.StatusCode != 200 {
		t.Fatalf("GET: %d", res.StatusCode)
	}
	if doc.Find(`tr[data-check="preflight.cpu"][data-status="fail"]`).Length() != 1 {
		t.Fatal("the failing CPU check is not shown")
	}
	if doc.Find(`input[name="override.preflight.cpu"]`).Length() != 1 || doc.Find(`input[name="override.preflight.memory"]`).Length() != 0 {
		t.Fatal("override field only for the failure expected")
	}

	// Continue without a reason: 422, the error next to the override field.
	res, doc = f.post(t, "/steps/preflight", url.Values{"action": {"next"}})
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("continue without reason: %d", res.StatusCode)
	}
	in := doc.Find(`input[name="override.preflight.cpu"]`)
	if v, _ := in.Attr("aria-invalid"); v != "true" {
		t.Fatal("override field not marked invalid")
	}
	if doc.Find("#e-override\\.preflight\\.cpu").Length() != 1 || doc.Find("#error-summary").Length() != 1 {
		t.Fatal("no error message next to the field or no summary")
	}
	st, _ := f.deps.Store.Load()
	if st.Done[wizard.Preflight] {
		t.Fatal("step marked done after a refused continue")
	}

	// With a reason: 303 to the package step, overrides recorded.
	res, _ = f.post(t, "/steps/preflight", url.Values{"action": {"next"}, "override.preflight.cpu": {"pilot on a small VM"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/steps/package" {
		t.Fatalf("continue with reason: %d to %s", res.StatusCode, res.Header.Get("Location"))
	}
	st, _ = f.deps.Store.Load()
	if !st.Done[wizard.Preflight] {
		t.Fatal("step not done")
	}
	if o, ok := st.Overridden("preflight.cpu"); !ok || o.Reason != "pilot on a small VM" {
		t.Fatalf("override not recorded: %+v", st.Overrides)
	}
	if o, ok := st.Overridden("preflight.memory"); !ok || o.Reason != wizard.WarningReason {
		t.Fatal("warning not recorded")
	}
}

func TestPreflightFixedFailureBlocks(t *testing.T) {
	f := newFixture(t)
	f.setSteps(func(d *steps.Deps) {
		d.Preflight = steps.PreflightFunc(func(context.Context, preflight.Config) []check.Result {
			return []check.Result{{Step: "preflight", ID: "preflight.release_files", Status: check.Fail, Fixed: true, Message: "docker-compose.yml is missing"}}
		})
	})
	res, _ := f.post(t, "/steps/preflight", url.Values{"action": {"rerun"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("rerun: %d", res.StatusCode)
	}
	res, doc := f.post(t, "/steps/preflight", url.Values{"action": {"next"}, "override.preflight.release_files": {"please"}})
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("fixed failure with a reason: %d, want 422", res.StatusCode)
	}
	body, _ := doc.Html()
	if !strings.Contains(body, "cannot be overridden") {
		t.Fatal("no 'cannot be overridden' message")
	}
}
