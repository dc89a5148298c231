package steps

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// fakeDomain passes DNS for names under example.com and fails otherwise,
// and counts the nonces it handed out.
type fakeDomain struct{ nonces int }

func (f *fakeDomain) NewNonce() string {
	f.nonces++
	return strings.Repeat("ab", 16) + string(rune('a'+f.nonces))
}

func (f *fakeDomain) Check(_ context.Context, domain, _ string) []check.Result {
	if strings.HasSuffix(domain, ".example.com") {
		return []check.Result{{Step: "domain", ID: "domain.resolves", Status: check.Pass}}
	}
	return []check.Result{{Step: "domain", ID: "domain.resolves", Status: check.Fail, Field: wizard.FieldDomain, Message: "does not resolve"}}
}

func TestDomainStep(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 8, 1, 10, 0, 0, 0, time.UTC)
	fd := &fakeDomain{}
	s := New(Deps{Now: func() time.Time { return now }, Domain: fd}, wizard.NewMemStore(wizard.State{}))

	for _, bad := range []string{"", "https://carto.example.com/", "carto.example.com:443", "*.example.com"} {
		out, err := s.Domain(context.Background(), DomainForm{Domain: bad})
		if err != nil {
			t.Fatal(err)
		}
		if !out.Refused() || out.Errors[wizard.FieldDomain] == "" {
			t.Errorf("%q: not refused: %+v", bad, out.Errors)
		}
		if out.State.Domain.Domain != "" || len(out.State.Checks) != 0 {
			t.Errorf("%q: a refused domain changed the state: %+v", bad, out.State.Domain)
		}
	}

	out, err := s.Domain(context.Background(), DomainForm{Domain: "Carto.Example.com."})
	if err != nil || out.Refused() {
		t.Fatalf("valid domain: %v %v", err, out.Errors)
	}
	if out.State.Domain.Domain != "carto.example.com" || out.State.Domain.BrowserNonce == "" {
		t.Fatalf("saved domain %+v", out.State.Domain)
	}
	nonce := out.State.Domain.BrowserNonce
	if _, ok, err := s.Continue(wizard.Domain, nil); !ok || err != nil {
		t.Fatalf("continue: %v %v", ok, err)
	}

	// The same domain again keeps its nonce and its done mark.
	out, _ = s.Domain(context.Background(), DomainForm{Domain: "carto.example.com"})
	if out.State.Domain.BrowserNonce != nonce || !out.State.Done[wizard.Domain] {
		t.Errorf("re-check of the same domain: nonce %q (was %q), done %v", out.State.Domain.BrowserNonce, nonce, out.State.Done[wizard.Domain])
	}

	// Another domain gets a new nonce and must be continued past again.
	out, _ = s.Domain(context.Background(), DomainForm{Domain: "carto.other.test"})
	if out.State.Domain.BrowserNonce == nonce || out.State.Done[wizard.Domain] {
		t.Errorf("new domain: nonce %q, done %v", out.State.Domain.BrowserNonce, out.State.Done[wizard.Domain])
	}
	cont, _, _ := s.Continue(wizard.Domain, nil)
	if !cont.Refused() || cont.Errors[wizard.OverrideField("domain.resolves")] == "" {
		t.Fatalf("a failed check without a reason did not block: %+v", cont.Errors)
	}
	cont, _, _ = s.Continue(wizard.Domain, map[string]string{"domain.resolves": "DNS changes tonight"})
	if cont.Refused() || !cont.State.Done[wizard.Domain] {
		t.Fatalf("a reason did not let the admin continue: %+v", cont.Errors)
	}
	if o, ok := cont.State.Overridden("domain.resolves"); !ok || o.Reason != "DNS changes tonight" || !o.At.Equal(now) {
		t.Errorf("override recorded as %+v", o)
	}
}

func TestContinueWithoutRun(t *testing.T) {
	t.Parallel()
	s := New(Deps{}, wizard.NewMemStore(wizard.State{}))
	if _, ok, err := s.Continue(wizard.Preflight, nil); ok || err != nil {
		t.Fatalf("continue without a check run: ok %v err %v", ok, err)
	}
}
