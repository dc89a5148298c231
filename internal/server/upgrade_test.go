package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/history"
	"github.com/carto-setup/carto-setup/internal/upgrade"
	"github.com/carto-setup/carto-setup/internal/upgrade/gitrepo"
	"github.com/carto-setup/carto-setup/internal/upgradeflow"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// fakeUpgrader plans what it is told and records what it was asked to
// start; the real flow is tested in upgradeflow and end to end.
type fakeUpgrader struct {
	rel      upgradeflow.Releases
	plan     upgradeflow.PlanOutcome
	checkout error
	started  []upgradeflow.Options
	entries  []history.Entry
}

func (u *fakeUpgrader) Releases(context.Context) (upgradeflow.Releases, error) { return u.rel, nil }
func (u *fakeUpgrader) Plan(context.Context, wizard.State) (upgradeflow.PlanOutcome, error) {
	return u.plan, nil
}
func (u *fakeUpgrader) Checkout(context.Context, string) error { return u.checkout }
func (u *fakeUpgrader) StartUpgrade(o upgradeflow.Options) (string, error) {
	u.started = append(u.started, o)
	return "job1", nil
}
func (u *fakeUpgrader) Upgrade(string) (upgradeflow.UpgradeJob, bool) {
	return upgradeflow.UpgradeJob{}, false
}
func (u *fakeUpgrader) LatestUpgrade() (string, bool)     { return "", false }
func (u *fakeUpgrader) BackupDir() string                 { return "/state/backups" }
func (u *fakeUpgrader) Entries() ([]history.Entry, error) { return u.entries, nil }
func (u *fakeUpgrader) PreviewRestore(context.Context, int) (upgradeflow.RestorePreview, error) {
	return upgradeflow.RestorePreview{}, history.ErrNotFound
}
func (u *fakeUpgrader) StartRestore(int, upgradeflow.RestoreOptions) (string, error) {
	return "r1", nil
}
func (u *fakeUpgrader) Restore(string) (upgradeflow.RestoreJob, bool) {
	return upgradeflow.RestoreJob{}, false
}

func newUpgradeFixture(t *testing.T) (*fixture, *fakeUpgrader) {
	f := newFixture(t)
	rel := upgradeflow.Releases{CheckedOut: "2026.8.11", Installed: "2026.7.16", InstalledEntry: 1, Repo: true,
		Newer: []gitrepo.Tag{{Name: "2026.8.11", Commit: "abcdef0123456789"}}}
	u := &fakeUpgrader{rel: rel, plan: upgradeflow.PlanOutcome{Releases: rel, Plan: upgrade.Plan{From: "2026.7.16", To: "2026.8.11",
		Direction: upgrade.Forward, PackageVersion: "2026.7.1", MinVersion: "2026.8.1",
		Blocking: []check.Result{{ID: "upgrade.min_version", Status: check.Fail, Message: "The customer package 2026.7.1 is older than 2026.8.1."}}}}}
	f.deps.Upgrade = u
	f.router = routes(f.deps)
	return f, u
}

// TestUpgradePageBlockedPlan: a plan stopped by MIN_VERSION shows why and
// asks for the newer package; the upgrade cannot be started, not even by
// posting the form.
func TestUpgradePageBlockedPlan(t *testing.T) {
	f, u := newUpgradeFixture(t)
	res, doc := f.get(t, "/upgrade")
	if res.StatusCode != 200 {
		t.Fatalf("GET /upgrade: %d", res.StatusCode)
	}
	if got := doc.Find("#release-notice").Text(); !strings.Contains(got, "2026.8.11 is checked out; 2026.7.16 is installed") {
		t.Errorf("notice %q", got)
	}
	if doc.Find(`#blocking li[data-check="upgrade.min_version"]`).Length() != 1 || doc.Find("#upgrade-package").Length() != 1 || doc.Find("#start-upgrade").Length() != 0 {
		t.Errorf("the blocked plan: %s", doc.Find("#plan").Text())
	}
	res, _ = f.post(t, "/upgrade", url.Values{"action": {"upgrade"}})
	if res.StatusCode != http.StatusUnprocessableEntity || len(u.started) != 0 {
		t.Errorf("starting a blocked upgrade: %d, started %d", res.StatusCode, len(u.started))
	}
}

func TestUpgradeStartWithReasons(t *testing.T) {
	f, u := newUpgradeFixture(t)
	u.plan.Plan.Blocking = nil
	_, doc := f.get(t, "/upgrade")
	if doc.Find("#start-upgrade").Length() != 1 || !strings.Contains(doc.Find("#start-form").Parent().Text(), "/state/backups") {
		t.Fatal("no start button, or the backup's place is not said")
	}
	res, _ := f.post(t, "/upgrade", url.Values{"override.preflight.cpu": {" two cores here "}, "snapshot_reason": {""}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/upgrade/jobs/job1" {
		t.Fatalf("start: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if len(u.started) != 1 || u.started[0].Reasons["preflight.cpu"] != "two cores here" || u.started[0].SnapshotReason != "" {
		t.Errorf("started with %+v", u.started)
	}
}

func TestUpgradeCheckoutRefused(t *testing.T) {
	f, u := newUpgradeFixture(t)
	u.checkout = &gitrepo.DirtyError{Files: []string{"docker-compose.yml"}}
	res, doc := f.post(t, "/upgrade/checkout", url.Values{"tag": {"2026.8.11"}})
	if res.StatusCode != http.StatusUnprocessableEntity || doc.Find("#dirty-files code").Text() != "docker-compose.yml" {
		t.Errorf("dirty checkout: %d %q", res.StatusCode, doc.Find("#checkout-error").Text())
	}
}

// TestReviewRefusesMovedCheckout: with another release checked out than
// the one installed, the Review says so and refuses to install, as apply
// does: the Upgrade page plans it and backs up the database first.
func TestReviewRefusesMovedCheckout(t *testing.T) {
	f, _ := newUpgradeFixture(t)
	markDone(f, wizard.Preflight, wizard.Package, wizard.Domain, wizard.Database, wizard.TLS, wizard.Buckets, wizard.Advanced)
	inst := f.deps.Installer.(*fakeInstaller)
	_, doc := f.get(t, "/steps/review")
	if got := doc.Find("#release-notice").Text(); !strings.Contains(got, "2026.8.11 is checked out; 2026.7.16 is installed") ||
		doc.Find(`#release-notice a[href="/upgrade"]`).Length() != 1 || doc.Find(`button[value="install"][disabled]`).Length() != 1 {
		t.Errorf("the review does not stop at the moved checkout: notice %q", got)
	}
	res, doc := f.post(t, "/steps/review", url.Values{"action": {"install"}})
	if res.StatusCode != http.StatusConflict || !strings.Contains(doc.Find("#error-summary").Text(), "Nothing was installed") {
		t.Errorf("install with the checkout moved: %d %q", res.StatusCode, doc.Find("#error-summary").Text())
	}
	inst.mu.Lock()
	defer inst.mu.Unlock()
	if inst.started != 0 {
		t.Errorf("an install started with the checkout moved")
	}
}

// TestHistoryPageAndHomeNotice: the History page lists the entries with a
// restore button for those that ended; the summary page (home once
// installed) announces the checkout that moved.
func TestHistoryPageAndHomeNotice(t *testing.T) {
	f, u := newUpgradeFixture(t)
	ended := time.Now()
	u.entries = []history.Entry{
		{ID: 2, Action: history.Upgrade, Release: "2026.8.11", FromRelease: "2026.7.16", Result: history.Running, Files: map[string]history.File{}},
		{ID: 1, Action: history.Install, Release: "2026.7.16", Result: history.Succeeded, Ended: &ended,
			Files: map[string]history.File{"customer.env": {SHA256: "0123456789abcdef0123"}}},
	}
	_, doc := f.get(t, "/history")
	if doc.Find("#history tr[data-entry]").Length() != 2 || doc.Find(`tr[data-entry="1"] a[href="/history/1/restore"]`).Length() != 1 ||
		doc.Find(`tr[data-entry="2"] a`).Length() != 0 {
		t.Errorf("history page: %s", doc.Find("#history").Text())
	}
	if res, _ := f.get(t, "/history/9/restore"); res.StatusCode != http.StatusNotFound {
		t.Errorf("restore of an unknown entry: %d", res.StatusCode)
	}
	if _, err := f.deps.Store.Update(func(s *wizard.State) error { s.MarkDone(wizard.Smoke); return nil }); err != nil {
		t.Fatal(err)
	}
	_, doc = f.get(t, "/finish")
	if got := doc.Find("#release-notice").Text(); !strings.Contains(got, "2026.8.11 is checked out; 2026.7.16 is installed") || doc.Find(`#release-notice a[href="/upgrade"]`).Length() != 1 {
		t.Errorf("home notice %q", got)
	}
	// Once installed, the home page is the Status page: it says so too.
	if _, err := f.deps.Store.Update(func(s *wizard.State) error { s.MarkDone(wizard.Install); return nil }); err != nil {
		t.Fatal(err)
	}
	_, doc = f.get(t, "/")
	if got := doc.Find("#release-notice").Text(); doc.Find("h1").Text() != "Status" || !strings.Contains(got, "2026.8.11 is checked out; 2026.7.16 is installed") {
		t.Errorf("the Status page (%q) notice %q", doc.Find("h1").Text(), got)
	}
}
