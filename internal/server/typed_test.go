package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/certcheck"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/dbcheck"
	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// TestDatabaseTypedValuesKept: a form refused for another field keeps
// every typed value: the others in the page, the secrets (never in the
// page) held for the form, and says so; generating a password keeps them
// too; a test that fails saves nothing.
func TestDatabaseTypedValuesKept(t *testing.T) {
	f := newFixture(t)
	markDone(f, wizard.Preflight, wizard.Package, wizard.Domain)
	var got []dbcheck.Config
	f.setSteps(func(d *steps.Deps) {
		d.Database = steps.DatabaseFunc(func(_ context.Context, db dbcheck.Config) []check.Result {
			got = append(got, db)
			if db.AdminPassword != "typed-Admin-1" {
				return []check.Result{{Step: "database", ID: "database.auth", Status: check.Fail, Fixed: true, Field: "admin_password", Message: "The server rejected the admin password."}}
			}
			return []check.Result{{Step: "database", ID: "database.auth", Status: check.Pass, Message: "Signed in."}}
		})
	})
	form := map[string]string{"db_mode": "external", "host": "db.internal", "port": "70000", "admin_user": "postgres", "admin_password": "typed-Admin-1",
		"admin_database": "postgres", "workspace_user": "workspace_admin", "workspace_password": "", "workspace_database": "workspace",
		"ssl_mode": "require", "cache_mode": "embedded", "action": "test"}

	res, doc, html := f.postMultipart(t, "/steps/database", form, nil)
	if res.StatusCode != http.StatusUnprocessableEntity || doc.Find("#e-port").Length() != 1 {
		t.Fatalf("bad port: %d", res.StatusCode)
	}
	if strings.Contains(html, "typed-Admin-1") {
		t.Fatal("the typed password is in the page")
	}
	if v, _ := doc.Find("#f-host").Attr("value"); v != "db.internal" {
		t.Errorf("typed host lost: %q", v)
	}
	if hint := doc.Find("#f-admin_password").Parent().Find(".hint").Text(); !strings.Contains(hint, "kept for this form") {
		t.Errorf("the password field does not say the typed value is kept: %q", hint)
	}

	// Generate a workspace password: the other typed fields stay.
	form["port"], form["action"] = "5432", "generate"
	form["admin_password"] = ""
	res, doc, _ = f.postMultipart(t, "/steps/database", form, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("generate: %d", res.StatusCode)
	}
	if v, _ := doc.Find("#f-host").Attr("value"); v != "db.internal" {
		t.Errorf("generate lost the typed host: %q", v)
	}
	if hint := doc.Find("#f-admin_password").Parent().Find(".hint").Text(); !strings.Contains(hint, "kept for this form") {
		t.Errorf("generate lost the typed admin password: %q", hint)
	}
	st, _ := f.deps.Store.Load()
	if st.Database.WorkspacePassword == "" || st.Database.AdminPassword != "" {
		t.Fatalf("generate saved %+v", st.Database)
	}

	// Continue with the admin password left blank: the held one is used.
	form["action"] = "next"
	res, _, _ = f.postMultipart(t, "/steps/database", form, nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("continue with the held password: %d", res.StatusCode)
	}
	if last := got[len(got)-1]; last.AdminPassword != "typed-Admin-1" {
		t.Fatalf("the checker got %q, not the held password", last.AdminPassword)
	}
	st, _ = f.deps.Store.Load()
	if st.Database.AdminPassword != "typed-Admin-1" || st.Database.Host != "db.internal" {
		t.Fatalf("saved %+v", st.Database)
	}

	// A test with a wrong password fails (422) and changes nothing.
	form["action"], form["admin_password"] = "test", "wrong-Admin-2"
	res, _, _ = f.postMultipart(t, "/steps/database", form, nil)
	after, _ := f.deps.Store.Load()
	if res.StatusCode != http.StatusUnprocessableEntity || after.Database.AdminPassword != "typed-Admin-1" || after.Revision != st.Revision {
		t.Fatalf("failed test: %d, saved password changed: %v", res.StatusCode, after.Database.AdminPassword != "typed-Admin-1")
	}
}

// TestTLSOverridableAndFixed uploads real certificates: an expired one for
// the domain fails tls.validity, which a reason gets past (the files are
// held for the form meanwhile); one for another name fails tls.san, which
// nothing gets past. A refused upload changes neither the saved
// certificate nor the banner; a good upload's expiry warning is shown
// before the admin goes on.
func TestTLSOverridableAndFixed(t *testing.T) {
	f := newFixture(t)
	markDone(f, wizard.Preflight, wizard.Package, wizard.Domain, wizard.Database)
	f.deps.Store.Update(func(st *wizard.State) error { st.Domain.Domain = "carto.example.com"; return nil })
	now := time.Now()
	if res, _, _ := f.postMultipart(t, "/steps/tls", map[string]string{"tls_mode": "self-signed"}, nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("self-signed: %d", res.StatusCode)
	}
	saved, _ := f.deps.Store.Load()
	mk := func(domain string, from time.Time) (map[string][]byte, string) {
		c, k, fp, err := certcheck.SelfSigned(domain, from)
		if err != nil {
			t.Fatal(err)
		}
		return map[string][]byte{"cert": c, "key": k}, fp
	}

	// Another name: fixed.
	files, fp := mk("other.example.com", now)
	res, doc, _ := f.postMultipart(t, "/steps/tls", map[string]string{"tls_mode": "upload", "action": "next", "override.tls.san": "trust me"}, files)
	if res.StatusCode != http.StatusUnprocessableEntity || doc.Find(`input[name="override.tls.san"]`).Length() != 0 {
		t.Fatalf("SAN mismatch: %d", res.StatusCode)
	}
	if strings.Contains(doc.Find("#current-cert").Text(), fp) || doc.Find("#fingerprint").Text() != saved.TLS.Fingerprint {
		t.Errorf("the banner shows the rejected upload: %q", doc.Find("#current-cert").Text())
	}

	// Expired: overridable, and nothing saved until the reason is given.
	files, fp = mk("carto.example.com", now.AddDate(-2, 0, 0))
	res, doc, _ = f.postMultipart(t, "/steps/tls", map[string]string{"tls_mode": "upload", "action": "next"}, files)
	if res.StatusCode != http.StatusUnprocessableEntity || doc.Find(`input[name="override.tls.validity"]`).Length() != 1 {
		t.Fatalf("expired without a reason: %d", res.StatusCode)
	}
	if st, _ := f.deps.Store.Load(); st.TLS.Fingerprint != saved.TLS.Fingerprint || st.Revision != saved.Revision {
		t.Fatal("a refused upload was saved")
	}
	if doc.Find("#fingerprint").Text() != saved.TLS.Fingerprint {
		t.Error("the banner does not show the saved certificate")
	}
	res, _, _ = f.postMultipart(t, "/steps/tls", map[string]string{"tls_mode": "upload", "action": "next", "override.tls.validity": "renewal ordered"}, nil)
	st, _ := f.deps.Store.Load()
	if res.StatusCode != http.StatusSeeOther || st.TLS.Fingerprint != fp || !st.Done[wizard.TLS] {
		t.Fatalf("with a reason and the held files: %d, fingerprint %s want %s", res.StatusCode, st.TLS.Fingerprint, fp)
	}

	// Valid for 20 more days: saved, and the warning is shown.
	files, fp = mk("carto.example.com", now.AddDate(0, 0, -345))
	res, _, _ = f.postMultipart(t, "/steps/tls", map[string]string{"tls_mode": "upload", "action": "next"}, files)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/steps/tls?saved=warnings" {
		t.Fatalf("expiring upload: %d to %s", res.StatusCode, res.Header.Get("Location"))
	}
	_, doc = f.get(t, "/steps/tls?saved=warnings")
	if doc.Find(`tr[data-check="tls.expiry"][data-status="warn"]`).Length() != 1 || doc.Find("#tls-next").Length() != 1 {
		t.Fatal("the expiry warning or the way on is not shown")
	}
	if doc.Find("#fingerprint").Text() != fp {
		t.Error("the banner does not show the new certificate")
	}
}

// TestNoOverrideBoxWithoutContinue: while a smoke test runs the page has
// no Continue, so a failure of the last run gets no reason field.
func TestNoOverrideBoxWithoutContinue(t *testing.T) {
	f := newFixture(t)
	sm := &fakeSmoker{job: jobs.Record{ID: "smoke1", Kind: "smoke", Status: jobs.Running, Started: time.Now()}}
	f.deps.Smoke = sm
	f.router = routes(f.deps)
	f.deps.Store.Update(func(st *wizard.State) error {
		for _, s := range wizard.Steps[:len(wizard.Steps)-1] {
			st.MarkDone(s)
		}
		st.SetChecks(wizard.Smoke, wizard.NewCheckRun(time.Now(), []check.Result{{Step: "smoke", ID: "smoke.http.redirect", Status: check.Fail, Message: "no redirect"}}))
		return nil
	})
	_, doc := f.get(t, "/steps/smoke")
	if doc.Find(`button[value="next"]`).Length() != 0 || doc.Find(`input[name^="override."]`).Length() != 0 {
		t.Fatal("a running smoke test's page offers reasons without a Continue")
	}
	sm.job.Status, sm.job.Ended = jobs.Failed, time.Now()
	_, doc = f.get(t, "/steps/smoke")
	if doc.Find(`button[value="next"]`).Length() != 1 || doc.Find(`input[name="override.smoke.http.redirect"]`).Length() != 1 {
		t.Fatal("a finished run's page has no Continue with a reason field")
	}
}
