package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/demo/standin"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/pgtest"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// waitForJob follows a job page that refreshes itself until the element
// sel carries a data-status other than running, opening the page again
// when Compose changing the host's interfaces aborted a reload.
func waitForJob(t *testing.T, ctx context.Context, sel string, limit time.Duration) string {
	t.Helper()
	url := Location(t, ctx)
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if loc := Location(t, ctx); strings.HasPrefix(loc, "chrome-error:") {
			Navigate(t, ctx, url)
			continue
		}
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		status, err := chromedp.Run(tctx, chromedp.Evaluate[string](`(function(){ var j = document.querySelector(`+"`"+sel+"`"+`); return j && document.readyState === "complete" ? j.dataset.status : "" })()`))
		cancel()
		if err == nil && status != "" && status != "running" {
			return status
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("%s did not finish within %v; page: %s", sel, limit, pageText(ctx))
	return ""
}

// TestUpgradeStandinRelease is the upgrade in Chromium: install the older
// stand-in release from a git checkout with its two release tags, pass the
// smoke test, `git checkout` the newer tag, see the home page announce it,
// and upgrade on the Upgrade page: the plan asks for the newer package
// (MIN_VERSION), which is uploaded; then the backup is taken and
// verified, the board shows each service's old and new image and what was
// recreated, workspace-migrations exits 0 and the smoke test passes; the
// History page lists the install and the upgrade.
func TestUpgradeStandinRelease(t *testing.T) {
	NeedDocker(t)
	testenv.LookPath(t, "git", "apt-get install git")
	testenv.LookPath(t, "pg_dump", "apt-get install postgresql-client")
	bin := StaticBinary(t)
	n := rand.IntN(1e6)
	dir := filepath.Join(t.TempDir(), "carto-selfhosted")
	tags, err := release.WriteRepoTags(dir, fmt.Sprintf("-e2u%d", n))
	if err != nil {
		t.Fatal(err)
	}
	older, newer := tags[0], tags[1]
	f := &installFixture{release: dir, pkgDir: t.TempDir(), project: fmt.Sprintf("e2u%06d", n), version: older}
	f.pg = pgtest.Start(t, pgtest.Options{ListenAddrs: []string{"172.17.0.1"}})
	olderEnv, newerEnv := release.SampleCustomerEnvs("carto3-onprem.lan")
	ports := fmt.Sprintf("ROUTER_HTTP_PORT=%d\nROUTER_HTTPS_PORT=%d\nROUTER_METRICS_PORT=%d\n", testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t))
	key, err := release.SampleKeyJSON()
	if err != nil {
		t.Fatal(err)
	}
	newerPkg := t.TempDir()
	for d, env := range map[string][]byte{f.pkgDir: olderEnv, newerPkg: newerEnv} {
		os.WriteFile(filepath.Join(d, "customer.env"), append(env, ports...), 0o600)
		os.WriteFile(filepath.Join(d, "key.json"), key, 0o600)
	}
	f.resolver = startDNS(t)
	t.Cleanup(func() {
		f.teardown(t)
		if eng, err := engine.New(context.Background()); err == nil {
			release.RemoveImages(context.Background(), eng, older)
			release.RemoveImages(context.Background(), eng, newer)
			eng.Close()
		}
	})
	f.app = StartApp(t, Options{ReleaseDir: dir, Args: []string{
		"--standin-binary", bin, "--project", f.project, "--resolver", f.resolver,
		"--http-addr", "127.0.0.1:0", "--expect-timeout", "4m",
	}})
	a := f.app
	ctx := Browser(t, true)

	// The older release, installed and smoke-tested in the wizard.
	f.walkToReview(t, ctx, f.pg.Password)
	Submit(t, ctx, `button[value="install"]`)
	if status, _ := watchInstall(t, ctx); status != "succeeded" {
		t.Fatalf("install of %s: %s: %s", older, status, pageText(ctx))
	}
	if status, rows := runSmoke(t, ctx, a); status != "succeeded" {
		t.Fatalf("smoke test of %s: %s: %v", older, status, rows)
	}

	// The admin checks out the newer tag; the home page says so.
	if out, err := exec.Command("git", "-C", dir, "-c", "advice.detachedHead=false", "checkout", "--quiet", "tags/"+newer).CombinedOutput(); err != nil {
		t.Fatalf("git checkout: %v\n%s", err, out)
	}
	Navigate(t, ctx, a.BaseURL+"/")
	if got, want := Text(t, ctx, "#release-notice"), newer+" is checked out; "+older+" is installed"; !strings.Contains(got, want) {
		t.Fatalf("the home page (%s) does not announce the upgrade: %q", Location(t, ctx), got)
	}

	// The plan: the new variable, the renamed cache, old -> new images,
	// and the newer package asked for.
	Run(t, ctx, "open the Upgrade page", chromedp.Click(chromedp.CSS(`#release-notice a[href="/upgrade"]`)), chromedp.WaitVisible(chromedp.CSS("#plan")))
	if n := Get(t, ctx, "new variable", chromedp.Evaluate[int](`document.querySelectorAll('#plan-variables tr[data-variable="WORKSPACE_HTTP_REQUEST_RESTRICT_IPS"][data-change="added"]').length`)); n != 1 {
		t.Errorf("the plan does not show the added env.tpl variable: %s", Text(t, ctx, "#plan-variables"))
	}
	if got := Text(t, ctx, `#plan-services tr[data-service="valkey"]`); !strings.Contains(got, "redis → valkey") || !strings.Contains(got, "renamed") {
		t.Errorf("the plan's cache row: %q", got)
	}
	if got := Text(t, ctx, `#plan-services tr[data-service="workspace-api"] .image`); !strings.Contains(got, ":"+older+" → ") || !strings.HasSuffix(got, ":"+newer) {
		t.Errorf("the plan's workspace-api image: %q", got)
	}
	if n := Get(t, ctx, "MIN_VERSION block", chromedp.Evaluate[int](`document.querySelectorAll('#blocking li[data-check="upgrade.min_version"]').length`)); n != 1 {
		t.Fatalf("the plan does not stop at MIN_VERSION: %s", pageText(ctx))
	}
	if n := Get(t, ctx, "start button", chromedp.Evaluate[int](`document.querySelectorAll('#start-upgrade').length`)); n != 0 {
		t.Fatal("the upgrade can start with a package below MIN_VERSION")
	}
	Upload(t, ctx, "customer_env", filepath.Join(newerPkg, "customer.env"))
	Upload(t, ctx, "key_json", filepath.Join(newerPkg, "key.json"))
	Submit(t, ctx, `#upgrade-package button[value="upload"]`)
	if loc := Location(t, ctx); !strings.HasSuffix(loc, "/upgrade") {
		t.Fatalf("after the upload the wizard is at %s: %s", loc, pageText(ctx))
	}
	if n := Get(t, ctx, "blocking", chromedp.Evaluate[int](`document.querySelectorAll('#blocking').length`)); n != 0 {
		t.Fatalf("the plan still blocks with the newer package: %s", Text(t, ctx, "#blocking"))
	}

	// The upgrade, step by step.
	Submit(t, ctx, "#start-upgrade")
	if !strings.Contains(Location(t, ctx), "/upgrade/jobs/") {
		t.Fatalf("the upgrade did not start: %s", pageText(ctx))
	}
	if status := waitForJob(t, ctx, "#upgrade-job", 8*time.Minute); status != "succeeded" {
		t.Fatalf("upgrade %s: %s", status, pageText(ctx))
	}
	steps := Get(t, ctx, "steps", chromedp.Evaluate[map[string]string](`Object.fromEntries(Array.from(document.querySelectorAll("#upgrade-steps li[data-step]")).map(function(l){ return [l.dataset.step, l.dataset.status] }))`))
	for _, s := range []string{"plan", "preflight", "backup", "apply", "smoke"} {
		if steps[s] != "passed" {
			t.Errorf("step %s: %q", s, steps[s])
		}
	}
	if got := Text(t, ctx, "#backup-verified"); !strings.Contains(got, "pg_restore --list") || !strings.Contains(got, "scratch database") {
		t.Errorf("backup verification: %q", got)
	}
	backup := Text(t, ctx, "#backup-path")
	if fi, err := os.Stat(backup); err != nil || fi.Size() == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("the backup file %q: %v", backup, err)
	}
	board := Get(t, ctx, "board", chromedp.Evaluate[map[string]map[string]string](`Object.fromEntries(Array.from(document.querySelectorAll("#upgrade-board tr[data-service]")).map(function(r){ return [r.dataset.service, Object.assign({state: r.querySelector(".state").innerText}, r.dataset)] }))`))
	api := board["workspace-api"]
	if !strings.HasSuffix(api["old"], ":"+older) || !strings.HasSuffix(api["new"], ":"+newer) || api["recreated"] != "true" || api["status"] != "ok" {
		t.Errorf("workspace-api on the board: %v", api)
	}
	if c := board["valkey"]; c["change"] != "renamed" || c["recreated"] != "true" || c["status"] != "ok" {
		t.Errorf("the renamed cache on the board: %v", c)
	}
	if got := Get(t, ctx, "migrations", chromedp.Evaluate[string](`document.getElementById("migrations").dataset.exit`)); got != "0" {
		t.Errorf("workspace-migrations exited %q", got)
	}
	smoke := Get(t, ctx, "smoke", chromedp.Evaluate[map[string]string](`Object.fromEntries(Array.from(document.querySelectorAll("#upgrade-smoke tr[data-check]")).map(function(r){ return [r.dataset.check, r.dataset.status] }))`))
	if len(smoke) == 0 || smoke["smoke.service.valkey"] != "pass" {
		t.Errorf("smoke results after the upgrade: %v", smoke)
	}
	for id, st := range smoke {
		if st == "fail" || st == "error" {
			t.Errorf("smoke %s: %s", id, st)
		}
	}
	var v int
	var by string
	if err := f.pg.Conn(t, "workspace").QueryRow(context.Background(), "SELECT version, release FROM standin_schema").Scan(&v, &by); err != nil || v != standin.SchemaVersion(newer) || by != newer {
		t.Errorf("after the upgrade the schema is %d by %s (%v)", v, by, err)
	}

	// The History page lists both.
	Navigate(t, ctx, a.BaseURL+"/history")
	entries := Get(t, ctx, "history", chromedp.Evaluate[[]map[string]string](`Array.from(document.querySelectorAll("#history tr[data-entry]")).map(function(r){ return Object.assign({}, r.dataset) })`))
	if len(entries) != 2 || entries[0]["action"] != "upgrade" || entries[0]["release"] != newer || entries[0]["result"] != "succeeded" ||
		entries[1]["action"] != "install" || entries[1]["release"] != older || entries[1]["result"] != "succeeded" {
		t.Errorf("the History page: %v", entries)
	}
	if got := Text(t, ctx, `#history tr[data-entry] .backup`); !strings.Contains(got, backup) {
		t.Errorf("the upgrade's entry does not name its backup: %q", got)
	}
	if strings.Contains(pageText(ctx), f.pg.Password) {
		t.Error("a page shows the database password")
	}

	// The way back: the install's Restore button. Across releases the
	// page names the backup and the pg_restore command, never restores
	// the database, and puts the install's files back.
	Run(t, ctx, "open the install's restore", chromedp.Click(chromedp.CSS(`#history tr[data-action="install"] a.button`)), chromedp.WaitVisible(chromedp.CSS("#database-notice")))
	notice := Text(t, ctx, "#database-notice")
	for _, want := range []string{"forward-only", backup, "pg_restore", "--clean"} {
		if !strings.Contains(notice, want) {
			t.Errorf("the restore's database notice lacks %q: %s", want, notice)
		}
	}
	if got := Text(t, ctx, "#restore-checkout"); !strings.Contains(got, "git checkout tags/"+older) {
		t.Errorf("the restore does not say it checks out %s: %q", older, got)
	}
	Submit(t, ctx, "#confirm-restore")
	if status := waitForJob(t, ctx, "#restore-job", 4*time.Minute); status != "succeeded" {
		t.Fatalf("restore %s: %s", status, pageText(ctx))
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "VERSION")); strings.TrimSpace(string(b)) != older {
		t.Errorf("after the restore the checkout holds %q", b)
	}
	if err := f.pg.Conn(t, "workspace").QueryRow(context.Background(), "SELECT version FROM standin_schema").Scan(&v); err != nil || v != standin.SchemaVersion(newer) {
		t.Errorf("the restore touched the database: schema %d (%v)", v, err)
	}
	Navigate(t, ctx, a.BaseURL+"/history")
	if got := Get(t, ctx, "newest entry", chromedp.Evaluate[string](`document.querySelector("#history tr[data-entry]").dataset.action + " " + document.querySelector("#history tr[data-entry]").dataset.result`)); got != "restore succeeded" {
		t.Errorf("the newest entry after the restore: %q", got)
	}
}
