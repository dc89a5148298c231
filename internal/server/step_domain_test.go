package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// fakeDomain passes for domains under example.com and fails DNS otherwise.
type fakeDomain struct{}

func (fakeDomain) NewNonce() string { return "00112233445566778899aabbccddeeff" }

func (fakeDomain) Check(_ context.Context, domain, nonce string) []check.Result {
	if strings.HasSuffix(domain, ".example.com") {
		return []check.Result{{Step: "domain", ID: "domain.resolves", Status: check.Pass, Message: domain + " resolves to this VM"}}
	}
	return []check.Result{{Step: "domain", ID: "domain.resolves", Status: check.Fail, Message: domain + " does not resolve", Field: "domain"}}
}

func TestDomainStep(t *testing.T) {
	f := newFixture(t)
	f.deps.Store.Update(func(st *wizard.State) error {
		st.MarkDone(wizard.Preflight)
		st.MarkDone(wizard.Package)
		st.Domain.Domain = "saved.example.com"
		return nil
	})

	for _, bad := range []string{"https://carto.example.com/carto", "carto.example.com:8443", "*.example.com", "localhost", ""} {
		res, doc := f.post(t, "/steps/domain", url.Values{"domain": {bad}, "action": {"next"}})
		if res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%q: %d, want 422", bad, res.StatusCode)
			continue
		}
		in := doc.Find(`#f-domain`)
		if v, _ := in.Attr("aria-invalid"); v != "true" {
			t.Errorf("%q: field not marked invalid", bad)
		}
		if v, _ := in.Attr("value"); v != bad {
			t.Errorf("%q: typed value not kept, got %q", bad, v)
		}
		if strings.TrimSpace(doc.Find("#e-domain").Text()) == "" {
			t.Errorf("%q: no message next to the field", bad)
		}
	}
	if st, _ := f.deps.Store.Load(); st.Domain.Domain != "saved.example.com" {
		t.Fatalf("bad input changed the saved domain to %q", st.Domain.Domain)
	}

	// A domain whose checks fail is shown with them, and saved only when
	// the admin continues with a reason: a refused submit saves nothing.
	res, doc := f.post(t, "/steps/domain", url.Values{"domain": {"Carto.Other.test"}, "action": {"check"}})
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("check that fails: %d, want 422", res.StatusCode)
	}
	if doc.Find(`tr[data-check="domain.resolves"][data-status="fail"]`).Length() != 1 {
		t.Fatal("failed check not shown")
	}
	if v, _ := doc.Find("#f-domain").Attr("value"); v != "Carto.Other.test" {
		t.Errorf("typed domain not kept: %q", v)
	}
	if href, _ := doc.Find("#browser-link").Attr("href"); href != "http://carto.other.test/.well-known/carto-setup/00112233445566778899aabbccddeeff" {
		t.Fatalf("browser link = %q", href)
	}
	if v, _ := doc.Find(`input[name="browser_nonce"]`).Attr("value"); v != "00112233445566778899aabbccddeeff" {
		t.Fatalf("the form does not carry the nonce the browser was asked to fetch: %q", v)
	}
	if st, _ := f.deps.Store.Load(); st.Domain.Domain != "saved.example.com" || len(st.Checks[wizard.Domain].Results) != 0 {
		t.Fatalf("a check that failed saved %q and %d results", st.Domain.Domain, len(st.Checks[wizard.Domain].Results))
	}
	res, doc = f.post(t, "/steps/domain", url.Values{"domain": {"carto.other.test"}, "action": {"next"}})
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("continue past a failure without reason: %d", res.StatusCode)
	}
	if sum := doc.Find("#error-summary").Text(); !strings.Contains(sum, "domain.resolves") || !strings.Contains(sum, "does not resolve") {
		t.Errorf("the error summary does not name the check: %q", sum)
	}
	if st, _ := f.deps.Store.Load(); st.Domain.Domain != "saved.example.com" {
		t.Fatalf("a refused Continue saved the domain %q", st.Domain.Domain)
	}
	res, _ = f.post(t, "/steps/domain", url.Values{"domain": {"carto.other.test"}, "action": {"next"}, "override.domain.resolves": {"DNS record is being created"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/steps/database" {
		t.Fatalf("continue with a reason: %d to %s", res.StatusCode, res.Header.Get("Location"))
	}
	st, _ := f.deps.Store.Load()
	if st.Domain.Domain != "carto.other.test" || !st.Done[wizard.Domain] {
		t.Fatalf("state after continue: %+v", st.Domain)
	}
	if o, ok := st.Overridden("domain.resolves"); !ok || o.Reason != "DNS record is being created" {
		t.Fatal("override not recorded")
	}
	// The saved reason comes back in the form.
	_, doc = f.get(t, "/steps/domain")
	if v, _ := doc.Find(`input[name="override.domain.resolves"]`).Attr("value"); v != "DNS record is being created" {
		t.Errorf("saved reason not in the form: %q", v)
	}

	// Changing the domain reruns the checks and un-does the step.
	res, _ = f.post(t, "/steps/domain", url.Values{"domain": {"new.example.com"}, "action": {"next"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("new passing domain: %d", res.StatusCode)
	}
	st, _ = f.deps.Store.Load()
	if st.Domain.Domain != "new.example.com" || st.Checks[wizard.Domain].Results[0].Status != check.Pass {
		t.Fatalf("new domain not checked: %+v", st.Checks[wizard.Domain])
	}
	// The check now passes: the override for it is stale and gone.
	if _, ok := st.Overridden("domain.resolves"); ok {
		t.Error("the override of a check that now passes is still recorded")
	}
}
