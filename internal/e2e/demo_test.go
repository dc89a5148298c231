package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/demo/demopg"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/pgbin"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// TestDemoNeedsOnlyClicks walks `carto-setup --demo` in Chromium as a
// newcomer would, with clicks and choices only: no field is typed into.
// The demo's own PostgreSQL fills the database step, an offline machine's
// egress is one warning, a domain without DNS only warns, and the stand-in
// release installs and passes its smoke test; the home page is then the
// Status page.
func TestDemoNeedsOnlyClicks(t *testing.T) {
	NeedDocker(t)
	if _, err := pgbin.Dir(); err != nil {
		testenv.Missing(t, "PostgreSQL server (initdb, postgres, pg_ctl)", pgbin.InstallHint)
	}
	bin := StaticBinary(t)
	// The demo database runs as the postgres user, which must pass
	// through the state directory.
	state, err := os.MkdirTemp("", "e2e-demo-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(state, 0o755); err != nil {
		t.Fatal(err)
	}
	project := fmt.Sprintf("e2edemo%06d", rand.IntN(1e6))
	version := fmt.Sprintf("2026.8.11-demo%d", rand.IntN(1e6))
	releaseDir := filepath.Join(state, "demo-release")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := os.Stat(filepath.Join(releaseDir, ".env")); err == nil {
			if tool, err := compose.Detect(ctx, execLookPath, compose.Exec); err == nil {
				if err := compose.DownVolumes(ctx, tool, releaseDir, project, io.Discard); err != nil {
					t.Logf("compose down: %v", err)
				}
			}
		}
		if err := demopg.Remove(ctx, filepath.Join(state, "demo-postgres")); err != nil {
			t.Logf("remove the demo database: %v", err)
		}
		if eng, err := engine.New(ctx); err == nil {
			release.RemoveImages(ctx, eng, version)
			eng.Close()
		}
		os.RemoveAll(state)
	})
	// What --demo writes, written first with a version (image tag) and
	// router ports of this test's own, so nothing is shared with other
	// tests on this host.
	if err := release.Write(releaseDir, version); err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(state, "demo-package")
	os.MkdirAll(pkg, 0o700)
	key, err := release.SampleKeyJSON()
	if err != nil {
		t.Fatal(err)
	}
	env := fmt.Appendf(release.SampleCustomerEnv("carto.example.com"), "ROUTER_HTTP_PORT=%d\nROUTER_HTTPS_PORT=%d\nROUTER_METRICS_PORT=%d\n", testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t))
	os.WriteFile(filepath.Join(pkg, "customer.env"), env, 0o600)
	os.WriteFile(filepath.Join(pkg, "key.json"), key, 0o600)

	a := StartApp(t, Options{ReleaseDir: t.TempDir(), StateDir: state, Args: []string{"--demo", "--standin-binary", bin, "--project", project,
		"--http-addr", "127.0.0.1:0", "--expect-timeout", "4m", "--resolver", fmt.Sprintf("127.0.0.1:%d", testenv.ClosedPort(t))}})
	if out := a.Stdout.String(); !strings.Contains(out, "the database step is filled in") {
		t.Fatalf("the demo did not start its PostgreSQL:\n%s", out)
	}
	ctx := Browser(t, true)
	Navigate(t, ctx, a.SignInURL)

	// next presses Continue and expects the next step: a page that asks
	// for something to be typed fails the test.
	next := func(button, want string) {
		t.Helper()
		Submit(t, ctx, button)
		if loc := Location(t, ctx); !strings.Contains(loc, want) {
			boxes := Get(t, ctx, "fields to type", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('input[name^="override."]')).map(function(i){ return i.name })`))
			t.Fatalf("the demo stopped at %s instead of %s, asking for %v: %s", loc, want, boxes, pageText(ctx))
		}
	}
	if !strings.HasSuffix(Location(t, ctx), "/steps/preflight") {
		t.Fatalf("after sign-in: %s", Location(t, ctx))
	}
	if n := Get(t, ctx, "egress rows", chromedp.Evaluate[int](`document.querySelectorAll('tr[data-check^="preflight.egress"]').length`)); n > 1 {
		t.Errorf("an offline demo shows %d egress results, want them as one condition", n)
	}
	// A check that could not run on this busy shared host (a version
	// command that timed out) is run again, as a newcomer would click.
	for i := 0; i < 2 && Get(t, ctx, "could not run", chromedp.Evaluate[int](`document.querySelectorAll('tr[data-status="error"]').length`)) > 0; i++ {
		Submit(t, ctx, `button[value="rerun"]`)
	}
	next(`button[value="next"]`, "/steps/package")
	Upload(t, ctx, "customer_env", filepath.Join(pkg, "customer.env"))
	Upload(t, ctx, "key_json", filepath.Join(pkg, "key.json"))
	next(`button[value="upload"]`, "/steps/package")
	next(`button[value="next"]`, "/steps/domain")
	next(`button[value="next"]`, "/steps/database")
	if host := Get(t, ctx, "database host", chromedp.Value(chromedp.CSS("#f-host"))); host == "" {
		t.Fatal("the database step is not filled in with the demo's PostgreSQL")
	}
	next(`button[value="next"]`, "/steps/tls")
	next(`button[value="next"]`, "/steps/buckets")
	next(`button[value="next"]`, "/steps/advanced")
	next(`button[value="next"]`, "/steps/review")
	Submit(t, ctx, `button[value="install"]`)
	if strings.HasPrefix(Location(t, ctx), "chrome-error:") {
		// Compose changing the host's interfaces aborted the load of
		// the install page; the install runs on: open it again.
		Navigate(t, ctx, a.BaseURL+"/steps/install")
	}
	if status, _ := watchInstall(t, ctx); status != "succeeded" {
		t.Fatalf("the demo install %s: %s", status, pageText(ctx))
	}
	status, rows := runSmoke(t, ctx, a)
	if status != "succeeded" {
		t.Fatalf("the demo's smoke test %s: %v", status, rows)
	}
	for id, r := range rows {
		if strings.HasPrefix(id, "smoke.database.workspace") && r.Status != "pass" {
			t.Errorf("%s after the install: %+v (the role and database the install made are expected)", id, r)
		}
	}
	Navigate(t, ctx, a.BaseURL+"/")
	if h := Text(t, ctx, "h1"); h != "Status" {
		t.Errorf("the demo's home page after the install is %q", h)
	}
}
