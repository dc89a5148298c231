package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// screens saves a screenshot of every page it checks, at each width, into
// bin/e2e-screens/<test>, and asserts that no page is wider than the
// window: long values wrap or scroll inside their own box.
type screens struct {
	dir string
}

func newScreens(t *testing.T) *screens {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "bin", "e2e-screens", strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots of every page at 1366 and 768 px: %s", dir)
	return &screens{dir: dir}
}

// widths are the window widths every page must fit.
var widths = []int64{1366, 768}

// setWidth makes the window width px wide (900 high).
func setWidth(t testing.TB, ctx context.Context, px int64) {
	t.Helper()
	Run(t, ctx, fmt.Sprintf("viewport %d", px), chromedp.EmulateViewport(px, 900))
}

// check asserts the current page fits its window and saves a screenshot.
func (s *screens) check(t testing.TB, ctx context.Context, name string, px int64) {
	t.Helper()
	over := Get(t, ctx, "page width", chromedp.Evaluate[string](`(function(){
		var w = document.documentElement.clientWidth;
		if (document.documentElement.scrollWidth <= w && document.body.scrollWidth <= w) return "";
		var wide = Array.from(document.querySelectorAll("body *")).filter(function(e){ return e.getBoundingClientRect().right > w + 1 })
			.slice(-4).map(function(e){ return e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className && e.className.baseVal === undefined ? "." + e.className : "") + " (" + Math.round(e.getBoundingClientRect().right) + "px)" });
		return document.documentElement.scrollWidth + "px wide in a " + w + "px window; widest: " + wide.join(", ");
	})()`))
	if over != "" {
		t.Errorf("%s at %d px: %s", name, px, over)
	}
	png := Get(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100)) // 100: PNG
	if err := os.WriteFile(filepath.Join(s.dir, fmt.Sprintf("%s-%d.png", name, px)), png, 0o644); err != nil {
		t.Error(err)
	}
	setWidth(t, ctx, px) // the full-page screenshot changed the window
}

// visit opens url at each width and checks the page.
func (s *screens) visit(t testing.TB, ctx context.Context, name, url string) {
	t.Helper()
	for _, px := range widths {
		setWidth(t, ctx, px)
		Navigate(t, ctx, url)
		s.check(t, ctx, name, px)
	}
}

// TestAfterTheInstall installs the stand-in release in Chromium and then
// shows, on that one install: every page fits at 1366 and 768 px (with a
// screenshot of each); the Status page turns a service stopped by hand red
// within seconds and draws its charts; a domain change is marked "changed
// since install", applied, and proven by the smoke test with the new name,
// and a router left serving the old certificate fails it.
func TestAfterTheInstall(t *testing.T) {
	f := newInstallFixture(t)
	a := f.app
	ctx := Browser(t, true)
	shots := newScreens(t)
	shots.visit(t, ctx, "signin", a.BaseURL+"/signin")
	f.walkToReview(t, ctx, f.pg.Password)
	Submit(t, ctx, `button[value="install"]`)
	jobURL := Location(t, ctx)
	if status, _ := watchInstall(t, ctx); status != "succeeded" {
		t.Fatalf("install %s: %s", status, pageText(ctx))
	}
	if status, rows := runSmoke(t, ctx, a); status != "succeeded" {
		t.Fatalf("smoke test after the install: %s: %v", status, rows)
	}
	_, httpsPort := f.routerPorts(t)
	certPath, keyPath := filepath.Join(f.release, "certs", "carto-router.crt"), filepath.Join(f.release, "certs", "carto-router.key")
	firstCert, _ := os.ReadFile(certPath)
	firstKey, _ := os.ReadFile(keyPath)

	t.Run("every page fits", func(t *testing.T) {
		for _, p := range []struct{ name, url string }{
			{"status", "/"}, {"preflight", "/steps/preflight"}, {"package", "/steps/package"}, {"domain", "/steps/domain"},
			{"database", "/steps/database"}, {"tls", "/steps/tls"}, {"buckets", "/steps/buckets"}, {"review", "/steps/review"},
			{"install", strings.TrimPrefix(jobURL, a.BaseURL)}, {"smoke", "/steps/smoke"}, {"bundle", "/bundle"}, {"finish", "/finish"},
			{"error-404", "/steps/no-such-step"},
		} {
			shots.visit(t, ctx, p.name, a.BaseURL+p.url)
		}
		// Pages refused with 422, with their messages next to the fields.
		for _, px := range widths {
			setWidth(t, ctx, px)
			Navigate(t, ctx, a.BaseURL+"/steps/domain")
			Fill(t, ctx, "domain", "https://"+strings.Repeat("very-long-label-", 8)+"example.com/carto")
			Submit(t, ctx, `button[value="check"]`)
			shots.check(t, ctx, "domain-refused", px)
			Navigate(t, ctx, a.BaseURL+"/steps/database")
			Fill(t, ctx, "port", "70000")
			Submit(t, ctx, `button[value="test"]`)
			shots.check(t, ctx, "database-refused", px)
			Navigate(t, ctx, a.BaseURL+"/finish")
			Submit(t, ctx, `button[value="lock"]`)
			if got := Text(t, ctx, "#e-confirm"); !strings.Contains(got, "lock") {
				t.Errorf("the lock confirmation error is not next to its field: %q", got)
			}
			shots.check(t, ctx, "finish-refused", px)
		}
		setWidth(t, ctx, 1366)
	})

	t.Run("status page", func(t *testing.T) {
		Navigate(t, ctx, a.BaseURL+"/")
		if h := Text(t, ctx, "h1"); h != "Status" {
			t.Fatalf("the home page after the install is %q", h)
		}
		ready := `(function(){ var r = document.getElementById("ready-count"); return r && r.dataset.total > 0 && r.dataset.ready === r.dataset.total })()`
		WaitJS(t, ctx, "every service ready", ready, time.Minute)
		api := f.composeContainer(t, "workspace-api")
		docker(t, "stop", "-t", "2", api)
		stopped := time.Now()
		WaitJS(t, ctx, "workspace-api to turn red", `document.querySelector('#status-services li[data-service="workspace-api"]').dataset.status === "failed"`, 20*time.Second)
		t.Logf("workspace-api turned red %v after it was stopped", time.Since(stopped).Round(100*time.Millisecond))
		if Get(t, ctx, "still ready", chromedp.Evaluate[bool](ready)) {
			t.Error("the ready count did not drop")
		}
		WaitJS(t, ctx, "CPU and memory charts", `document.querySelectorAll('#usage .usage-row[data-service="router-http"] svg polyline').length === 2`, 2*time.Minute)
		docker(t, "start", api)
		WaitJS(t, ctx, "workspace-api green again", `document.querySelector('#status-services li[data-service="workspace-api"]').dataset.status === "ok"`, 30*time.Second)
	})

	t.Run("domain change", func(t *testing.T) {
		const newDomain = "carto2.e2e.test" // no DNS record: one reason covers what that explains
		Navigate(t, ctx, a.BaseURL+"/steps/domain")
		Fill(t, ctx, "domain", newDomain)
		Submit(t, ctx, `button[value="next"]`)
		boxes := Get(t, ctx, "reason fields", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('input[name^="override."]')).map(function(i){ return i.name })`))
		if len(boxes) != 1 || boxes[0] != "override.domain.resolves" {
			t.Fatalf("reason fields for a domain without DNS: %v, want only domain.resolves", boxes)
		}
		FillOverrides(t, ctx, "e2e: the new name has no public DNS yet")
		Submit(t, ctx, `button[value="next"]`)
		if loc := Location(t, ctx); !strings.HasSuffix(loc, "/steps/database") {
			t.Fatalf("after the new domain: %s: %s", loc, pageText(ctx))
		}
		markers := Get(t, ctx, "markers", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("nav.steps li.changed")).map(function(l){ return l.dataset.step })`))
		if strings.Join(markers, " ") != "domain tls review install smoke" {
			t.Errorf("steps marked changed since install: %v", markers)
		}
		Navigate(t, ctx, a.BaseURL+"/")
		if pending := Text(t, ctx, "#pending-changes"); !strings.Contains(pending, e2eDomain+" → "+newDomain) {
			t.Errorf("pending changes: %q", pending)
		}
		Submit(t, ctx, "#review-and-apply")
		if diff := Text(t, ctx, "#diff"); !strings.Contains(diff, "SELFHOSTED_DOMAIN="+newDomain) {
			t.Fatalf("the review does not show the new domain: %s", diff)
		}
		Submit(t, ctx, `button[value="install"]`)
		if status, _ := watchInstall(t, ctx); status != "succeeded" {
			t.Fatalf("apply of the new domain %s: %s", status, pageText(ctx))
		}
		status, rows := runSmoke(t, ctx, a)
		if status != "succeeded" || rows["smoke.tls.domain"].Status != "pass" || !strings.Contains(rows["smoke.tls.domain"].Text, newDomain) {
			t.Fatalf("smoke test with the new domain: %s; tls.domain %+v", status, rows["smoke.tls.domain"])
		}
		if markers := Get(t, ctx, "markers", chromedp.Evaluate[int](`document.querySelectorAll("nav.steps li.changed").length`)); markers != 0 {
			t.Errorf("%d steps still marked changed after applying and smoke-testing", markers)
		}

		// The router left serving the certificate of the old name, while
		// certs/ holds the new one: the smoke test must fail.
		newCert, _ := os.ReadFile(certPath)
		newKey, _ := os.ReadFile(keyPath)
		os.WriteFile(certPath, firstCert, 0o600)
		os.WriteFile(keyPath, firstKey, 0o600)
		router := f.composeContainer(t, "router-http")
		docker(t, "restart", "-t", "2", router)
		waitForCertificate(t, httpsPort, fingerprintPEM(t, firstCert))
		os.WriteFile(certPath, newCert, 0o600)
		os.WriteFile(keyPath, newKey, 0o600)
		status, rows = runSmoke(t, ctx, a)
		if status != "failed" || rows["smoke.tls.certificate"].Status != "fail" || rows["smoke.tls.domain"].Status != "fail" || !strings.Contains(rows["smoke.tls.domain"].Text, newDomain) {
			t.Errorf("smoke test with a stale router certificate: %s; certificate %+v; domain %+v", status, rows["smoke.tls.certificate"], rows["smoke.tls.domain"])
		}
		if n := Get(t, ctx, "reason fields", chromedp.Evaluate[int](`document.querySelectorAll('tr[data-check="smoke.tls.domain"] input[name^="override."]').length`)); n != 0 {
			t.Error("a stale router certificate can be continued past")
		}
		docker(t, "restart", "-t", "2", router)
		waitForCertificate(t, httpsPort, fingerprintPEM(t, newCert))
	})
}
