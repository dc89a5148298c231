package server

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/certcheck"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// installedReview is a fixture whose installer is the real one, over a
// stand-in release installed once (files written and recorded, nothing
// started) from the realistic customer package.
func installedReview(t *testing.T, pkgVersion string) (*fixture, string) {
	t.Helper()
	f := newFixture(t)
	dir, stateDir := filepath.Join(t.TempDir(), "carto-selfhosted"), t.TempDir()
	if err := release.Write(dir, release.RealisticNewVersion); err != nil {
		t.Fatal(err)
	}
	env, err := release.RealisticCustomerEnv(pkgVersion)
	if err != nil {
		t.Fatal(err)
	}
	key, err := release.SampleKeyJSON()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, fp, err := certcheck.SelfSigned("carto.example.com", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.deps.Store.Update(func(st *wizard.State) error {
		st.Package = wizard.PackageInput{CustomerEnv: string(env), KeyJSON: string(key)}
		st.Domain.Domain = "carto.example.com"
		st.Database.Mode, st.Cache.Mode, st.Buckets.Mode = wizard.ModeEmbedded, wizard.ModeEmbedded, wizard.BucketsCartoManaged
		st.Database.WorkspacePassword, st.Database.AdminPassword = "ws-Review-Secret-1", "admin-Review-Secret-1"
		st.TLS = wizard.TLSInput{Mode: wizard.TLSSelfSigned, CertPEM: string(certPEM), KeyPEM: string(keyPEM), Fingerprint: fp}
		for _, s := range []wizard.Step{wizard.Preflight, wizard.Package, wizard.Domain, wizard.Database, wizard.TLS, wizard.Buckets, wizard.Advanced} {
			st.MarkDone(s)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	runner, err := jobs.NewRunner(t.Context(), t.TempDir(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	inst := steps.NewInstaller(steps.InstallConfig{Runner: runner, Store: f.deps.Store, ReleaseDir: dir, StateDir: stateDir})
	plan, err := inst.Plan(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := deploy.ApplyWith(plan, deploy.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	f.deps.Installer = inst
	f.router = routes(f.deps)
	return f, dir
}

// TestReviewConflict: after an install the admin edits customer.env by
// hand (adds a key, changes the domain the wizard owns). The review keeps
// the new key, shows the domain side by side with a choice, refuses to
// install while it is open, refuses a choice left empty, and saves the
// choice and plans again with it.
func TestReviewConflict(t *testing.T) {
	f, dir := installedReview(t, release.RealisticOldVersion)
	path := filepath.Join(dir, deploy.CustomerEnvFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(b), "SELFHOSTED_DOMAIN=carto.example.com", "SELFHOSTED_DOMAIN=carto.hand.example.com", 1) + "MY_HAND_SETTING=kept\n"
	if edited == string(b)+"MY_HAND_SETTING=kept\n" {
		t.Fatal("the installed customer.env has no SELFHOSTED_DOMAIN line to edit")
	}
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}

	res, doc := f.get(t, "/steps/review")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET review: %d", res.StatusCode)
	}
	row := doc.Find(`#conflicts tr[data-key="SELFHOSTED_DOMAIN"]`)
	if row.Find(".hand").Text() != "carto.hand.example.com" || !strings.Contains(row.Find(".proposed").Text(), "carto.example.com") ||
		!strings.Contains(row.Text(), "You set SELFHOSTED_DOMAIN by hand to carto.hand.example.com; the wizard has carto.example.com.") {
		t.Fatalf("the conflict is not shown side by side: %q", row.Text())
	}
	if doc.Find(`#kept li[data-key="MY_HAND_SETTING"]`).Length() != 1 {
		t.Errorf("the added key is not listed as kept: %q", doc.Find("#kept").Text())
	}
	if _, ok := doc.Find(`button[value="install"]`).Attr("disabled"); !ok {
		t.Error("Install is enabled while a conflict is open")
	}
	html, _ := doc.Html()
	if strings.Contains(html, "ws-Review-Secret-1") || strings.Contains(html, "admin-Review-Secret-1") {
		t.Fatal("the review shows a password")
	}

	// Installing anyway is refused, nothing written.
	before, _ := os.ReadFile(path)
	res, doc = f.post(t, "/steps/review", url.Values{"action": {"install"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(doc.Find("#error-summary").Text(), "conflict") {
		t.Fatalf("install with an open conflict: %d %q", res.StatusCode, doc.Find("#error-summary").Text())
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("customer.env changed although the install was refused")
	}

	// A choice left empty is refused next to the conflict.
	res, doc = f.post(t, "/steps/review", url.Values{"action": {"resolve"}})
	if res.StatusCode != http.StatusUnprocessableEntity || doc.Find(`#conflicts tr[data-key="SELFHOSTED_DOMAIN"] .error`).Length() != 1 {
		t.Fatalf("resolve without a choice: %d", res.StatusCode)
	}
	if st, _ := f.deps.Store.Load(); len(st.Resolutions) != 0 {
		t.Fatalf("a refused choice was saved: %v", st.Resolutions)
	}

	// Keep mine: saved, planned again; the hand value stays in the diff
	// and Install is enabled.
	res, _ = f.post(t, "/steps/review", url.Values{"action": {"resolve"}, "resolve.SELFHOSTED_DOMAIN": {"mine"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/steps/review" {
		t.Fatalf("resolve: %d to %s", res.StatusCode, res.Header.Get("Location"))
	}
	if st, _ := f.deps.Store.Load(); st.Resolutions["SELFHOSTED_DOMAIN"] != "mine" {
		t.Fatalf("resolutions saved: %v", st.Resolutions)
	}
	_, doc = f.get(t, "/steps/review")
	if doc.Find(`#conflicts tr[data-key="SELFHOSTED_DOMAIN"][data-resolution="mine"]`).Length() != 1 {
		t.Errorf("the saved choice is not shown: %q", doc.Find("#conflicts").Text())
	}
	if _, ok := doc.Find(`button[value="install"]`).Attr("disabled"); ok {
		t.Error("Install is still disabled after every conflict was settled")
	}
	if strings.Contains(doc.Find("#diff").Text(), "+ SELFHOSTED_DOMAIN=carto.example.com") {
		t.Errorf("keeping the hand edit still changes the domain: %s", doc.Find("#diff").Text())
	}
	// LOG_LEVEL is set in the package and again by env.tpl: a warning
	// names it.
	if doc.Find(`#env-tpl-overrides li[data-key="LOG_LEVEL"]`).Length() != 1 {
		t.Errorf("no env.tpl warning naming LOG_LEVEL: %q", doc.Find("#env-tpl-overrides").Text())
	}

	// A newer package from CARTO, uploaded in the package step, and
	// customer.env saved with Windows line ends: the review lists the
	// package's changed keys, still keeps the hand edit, and says the line
	// ends are made LF.
	newer, err := release.RealisticCustomerEnv(release.RealisticNewVersion)
	if err != nil {
		t.Fatal(err)
	}
	f.deps.Store.Update(func(st *wizard.State) error { st.Package.CustomerEnv = string(newer); return nil })
	cur, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.ReplaceAll(string(cur), "\n", "\r\n")), 0o600)
	_, doc = f.get(t, "/steps/review")
	if doc.Find(`#package-changes li`).Length() == 0 {
		t.Errorf("the newer package's changes are not listed: %s", doc.Find("main").Text())
	}
	if doc.Find(`#kept li[data-key="MY_HAND_SETTING"]`).Length() != 1 {
		t.Errorf("the hand edit is not kept over the newer package: %q", doc.Find("#kept").Text())
	}
	if !strings.Contains(doc.Find("#notices").Text(), "CRLF") {
		t.Errorf("no notice about the line ends: %q", doc.Find("#notices").Text())
	}
}

// fakeRemover is a fakeInstaller that can remove a failed install.
type fakeRemover struct {
	*fakeInstaller
	since []time.Time
}

func (f *fakeRemover) RemoveFailed(_ context.Context, since time.Time, _ io.Writer) (deploy.Cleanup, error) {
	f.since = append(f.since, since)
	return deploy.Cleanup{Removed: []string{"volume p_workspace-pgdata"}, Left: []string{"the images"}}, nil
}

// TestRemoveFailedFirstInstall: the page of a failed first install offers
// the removal, which runs with the job's start and says what it removed
// and left; a succeeded install, or one after a successful install, does
// not.
func TestRemoveFailedFirstInstall(t *testing.T) {
	f := newFixture(t)
	rm := &fakeRemover{fakeInstaller: newFakeInstaller()}
	f.deps.Installer = rm
	f.router = routes(f.deps)
	markDone(f, wizard.Preflight, wizard.Package, wizard.Domain, wizard.Database, wizard.TLS, wizard.Buckets, wizard.Review)
	if _, err := rm.Start(wizard.State{}); err != nil {
		t.Fatal(err)
	}
	rm.finish("failed")
	_, doc := f.get(t, "/jobs/job1")
	if doc.Find(`form#remove-failed button`).Length() != 1 {
		t.Fatal("the failed first install offers no removal")
	}
	res, doc := f.post(t, "/jobs/job1/remove", url.Values{"action": {"remove"}})
	if res.StatusCode != http.StatusOK || !strings.Contains(doc.Find("#cleanup-removed").Text(), "workspace-pgdata") || !strings.Contains(doc.Find("#cleanup-left").Text(), "images") {
		t.Fatalf("removal: %d %q", res.StatusCode, doc.Find("#cleanup").Text())
	}
	if len(rm.since) != 1 || !rm.since[0].Equal(rm.job.Record.Started) {
		t.Fatalf("removed since %v, want the job's start %v", rm.since, rm.job.Record.Started)
	}

	markDone(f, wizard.Install) // an install succeeded before
	_, doc = f.get(t, "/jobs/job1")
	if doc.Find(`form#remove-failed`).Length() != 0 {
		t.Error("the removal is offered although an install succeeded")
	}
	if res, _ := f.post(t, "/jobs/job1/remove", nil); res.StatusCode != http.StatusConflict || len(rm.since) != 1 {
		t.Errorf("removal after a successful install: %d, %d calls", res.StatusCode, len(rm.since))
	}
}
