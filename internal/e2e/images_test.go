package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/carto-setup/carto-setup/internal/app"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/images"
	"github.com/carto-setup/carto-setup/internal/pgtest"
	"github.com/carto-setup/carto-setup/internal/registrytest"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// imageRow is one row of the install page's Images section as the
// browser shows it.
type imageRow struct {
	Image     string `json:"image"`
	Status    string `json:"status"`
	BytesDone int64  `json:"bytesDone"`
	Bytes     string `json:"bytes"`
}

// TestInstallPullsFromRegistry installs a stand-in release whose images
// exist only in the in-process registry (Docker has none of them): the
// install page's Images section shows the download's byte counter move
// while the pull runs. The wizard is restarted once the small image is
// complete and the big one on its way; the next install keeps the small
// one, pulls the big one, and every service comes up.
func TestInstallPullsFromRegistry(t *testing.T) {
	NeedDocker(t)
	bin := StaticBinary(t)
	eng := registrytest.Engine(t)
	ctx := context.Background()
	f := &installFixture{release: t.TempDir(), pkgDir: t.TempDir(), project: fmt.Sprintf("e2ei%06d", rand.IntN(1e6)),
		version: fmt.Sprintf("2026.8.11-e2ei%d", rand.IntN(1e6))}
	// 4 MB/s: the 32 MB of the big image take about 8 s, seen second by
	// second on the board.
	reg := registrytest.Start(t, registrytest.Options{Rate: 4 << 20})
	base := reg.Host + "/carto-standin"
	if err := release.Write(f.release, f.version); err != nil {
		t.Fatal(err)
	}
	if err := release.UseRegistry(f.release, base); err != nil {
		t.Fatal(err)
	}
	if err := release.BuildImages(ctx, eng, bin, f.version, io.Discard); err != nil {
		t.Fatal(err)
	}
	local, remote := release.ImageTags(f.version), release.RemoteImageTags(base, f.version)
	registrytest.RemoveAfter(t, eng, remote...)
	for i, pad := range []int64{32 << 20, 2 << 20} {
		if err := reg.PushPadded(ctx, eng, local[i], remote[i], pad); err != nil {
			t.Fatal(err)
		}
	}
	if err := release.RemoveImages(ctx, eng, f.version); err != nil {
		t.Fatal(err)
	}
	big, small := remote[0], remote[1]

	f.pg = pgtest.Start(t, pgtest.Options{ListenAddrs: []string{"172.17.0.1"}})
	env := release.SampleCustomerEnv("carto3-onprem.lan")
	env = fmt.Appendf(env, "ROUTER_HTTP_PORT=%d\nROUTER_HTTPS_PORT=%d\nROUTER_METRICS_PORT=%d\n", testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t))
	key, err := release.SampleKeyJSON()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(f.pkgDir, "customer.env"), env, 0o600)
	os.WriteFile(filepath.Join(f.pkgDir, "key.json"), key, 0o600)
	f.resolver = startDNS(t)
	t.Cleanup(func() { f.teardown(t) })
	appArgs := []string{"--standin-binary", bin, "--project", f.project, "--resolver", f.resolver,
		"--http-addr", "127.0.0.1:0", "--expect-timeout", "4m"}
	f.app = StartApp(t, Options{ReleaseDir: f.release, Args: appArgs})

	bctx := Browser(t, true)
	f.walkToReview(t, bctx, f.pg.Password)
	// The review says what the install will pull: both images, absent.
	toPull := Get(t, bctx, "review images", chromedp.Evaluate[map[string]string](`Object.fromEntries(Array.from(document.querySelectorAll("#review-images tr[data-image]")).map(function(r){ return [r.dataset.image, r.dataset.present] }))`))
	if len(toPull) != 2 || toPull[big] != "false" || toPull[small] != "false" || !strings.Contains(Text(t, bctx, "#review-images-summary"), "pulls 2 of the 2 images") {
		t.Errorf("the review lists the images %v: %q", toPull, Text(t, bctx, "#review-images-summary"))
	}
	Submit(t, bctx, `button[value="install"]`)
	jobURL := Location(t, bctx)

	var counters []int64 // the big image's bytes, as the page showed them while pulling
	var texts []string
	status, restarted := "", false
	for deadline := time.Now().Add(8 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if loc := Location(t, bctx); strings.HasPrefix(loc, "chrome-error:") {
			Navigate(t, bctx, jobURL)
			continue
		}
		tctx, cancel := context.WithTimeout(bctx, 10*time.Second)
		state, err := chromedp.Run(tctx, chromedp.Evaluate[struct {
			Status string     `json:"status"`
			Rows   []imageRow `json:"rows"`
		}](`(function(){
			var j = document.getElementById("job");
			var rows = Array.from(document.querySelectorAll("#images tbody tr")).map(function(r){
				return {image: r.dataset.image, status: r.dataset.status, bytesDone: Number(r.dataset.bytesDone || 0), bytes: r.querySelector(".bytes").textContent};
			});
			return {status: j ? j.dataset.status : "", rows: rows};
		})()`))
		cancel()
		if err != nil {
			continue
		}
		smallDone := false
		for _, r := range state.Rows {
			if r.Image == big && r.Status == "pulling" && (len(counters) == 0 || r.BytesDone != counters[len(counters)-1]) {
				counters = append(counters, r.BytesDone)
				texts = append(texts, r.Bytes)
			}
			smallDone = smallDone || r.Image == small && r.Status == "done"
		}
		if !restarted && smallDone && len(counters) >= 3 {
			// The wizard restarts in the middle of the big image.
			restarted = true
			counters, texts = nil, nil
			f.app.Stop(t)
			f.app = StartApp(t, Options{ReleaseDir: f.release, Args: appArgs})
			Navigate(t, bctx, f.app.SignInURL)
			Navigate(t, bctx, f.app.BaseURL+"/steps/review")
			Submit(t, bctx, `button[value="install"]`)
			jobURL = Location(t, bctx)
			continue
		}
		if restarted && state.Status != "" && state.Status != "running" {
			status = state.Status
			break
		}
		if !restarted && state.Status != "" && state.Status != "running" {
			t.Fatalf("the install ended (%s) before the restart: %s", state.Status, pageText(bctx))
		}
	}
	t.Logf("the page showed %s at %v", big, texts)
	if status != "succeeded" {
		t.Fatalf("install %q: %s", status, pageText(bctx))
	}
	if len(counters) < 3 || !slices.IsSorted(counters) || counters[len(counters)-1] <= counters[0] {
		t.Errorf("the byte counter of %s showed %v while pulling; want it to rise at least three times", big, counters)
	}
	for _, s := range texts {
		if !strings.Contains(s, " of ") {
			t.Errorf("the bytes cell reads %q, want \"X of Y\"", s)
		}
	}
	// The final page: both images pulled, every service up.
	final := Get(t, bctx, "images", chromedp.Evaluate[map[string]string](`Object.fromEntries(Array.from(document.querySelectorAll("#images tbody tr")).map(function(r){ return [r.dataset.image, r.dataset.status] }))`))
	if final[small] != "present" || final[big] != "done" {
		t.Errorf("after the restart: %s %q, %s %q; want the small one kept (present) and the big one pulled", small, final[small], big, final[big])
	}
	rows := Get(t, bctx, "board", chromedp.Evaluate[map[string]string](`Object.fromEntries(Array.from(document.querySelectorAll("#board tr[data-service]")).map(function(r){ return [r.dataset.service, r.dataset.status] }))`))
	for svc, st := range rows {
		if st != "ok" {
			t.Errorf("%s on the board: %q, want ok", svc, st)
		}
	}
	if _, err := eng.InspectImage(ctx, big); err != nil {
		t.Errorf("%s is not on the engine after the install: %v", big, err)
	}
}

// TestImagesPanelOfflineBundle is a VM with no route to the registry: the
// preflight page links to the Images panel; a damaged bundle uploaded
// without JavaScript is refused naming its images; the good one, whose
// upload was interrupted, goes on from where it stopped with JavaScript,
// is loaded, and preflight then passes offline.
func TestImagesPanelOfflineBundle(t *testing.T) {
	NeedDocker(t)
	eng := registrytest.Engine(t)
	ctx := context.Background()
	dir := t.TempDir()
	version := fmt.Sprintf("2026.8.11-e2eb%d", rand.IntN(1e6))
	host := fmt.Sprintf("127.0.0.1:%d", testenv.ClosedPort(t)) // a registry that never answers
	if err := release.Write(dir, version); err != nil {
		t.Fatal(err)
	}
	if err := release.UseRegistry(dir, host+"/carto-standin"); err != nil {
		t.Fatal(err)
	}
	refs := release.RemoteImageTags(host+"/carto-standin", version)
	for _, ref := range refs {
		registrytest.BuildImage(t, eng, ref, 1<<20, 2<<20)
	}
	// The bundle, made by the command a connected machine runs.
	bundle := filepath.Join(t.TempDir(), "carto-images.bundle")
	var out, errOut bytes.Buffer
	if err := app.Run(ctx, []string{"carto-setup", "images", "save", "--dir", dir, "-o", bundle}, func(string) string { return "" }, &out, &errOut); err != nil {
		t.Fatalf("images save: %v\n%s", err, &errOut)
	}
	data, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	damaged := filepath.Join(t.TempDir(), "damaged.bundle")
	os.WriteFile(damaged, registrytest.DamageBundle(t, data), 0o600)
	for _, ref := range refs {
		if err := eng.RemoveImage(ctx, ref); err != nil {
			t.Fatal(err)
		}
	}
	a := StartApp(t, Options{ReleaseDir: dir, Args: []string{"--http-addr", "127.0.0.1:0"}})

	// Without JavaScript: preflight links to the panel, and the plain
	// upload of the damaged copy is refused, naming its images.
	plain := Browser(t, false)
	Navigate(t, plain, a.SignInURL)
	Navigate(t, plain, a.BaseURL+"/steps/preflight")
	Run(t, plain, "follow the notice", chromedp.Click(chromedp.CSS(`#images-notice a`)))
	Run(t, plain, "the panel", chromedp.WaitVisible(chromedp.CSS(`#images-list`)))
	missing := Get(t, plain, "missing", chromedp.Evaluate[int](`document.querySelectorAll('#images-list tr[data-present="false"]').length`))
	if missing != len(refs) {
		t.Fatalf("the panel lists %d missing images, want %d: %s", missing, len(refs), pageText(plain))
	}
	Upload(t, plain, "bundle", damaged)
	Submit(t, plain, `#upload-button`)
	loadEnds(t, plain)
	if st := Text(t, plain, "#load-status"); !strings.Contains(st, "damaged") {
		t.Fatalf("the load of a damaged bundle says %q", st)
	}
	if named := Text(t, plain, "#load-corrupt"); !strings.Contains(named, refs[0]) && !strings.Contains(named, refs[1]) {
		t.Errorf("the refusal names no image of the bundle: %q", named)
	}
	for _, ref := range refs {
		if _, err := eng.InspectImage(ctx, ref); !errors.Is(err, engine.ErrImageNotFound) {
			t.Errorf("%s is on the engine after a damaged bundle: %v", ref, err)
		}
	}

	// With JavaScript: an upload stopped after 1 MB (a closed tab) ...
	js := Browser(t, true)
	Navigate(t, js, a.SignInURL)
	Navigate(t, js, a.BaseURL+"/images")
	Upload(t, js, "bundle", bundle)
	if _, err := chromedp.Run(js, chromedp.Evaluate[int](`(async function(){
		var f = document.getElementById("f-bundle").files[0];
		var body = new URLSearchParams(); body.set("size", String(f.size));
		var r = await fetch("/images/upload", {method: "POST", headers: {"Accept": "application/json"}, body: body});
		if (!r.ok) throw new Error("start: " + r.status);
		r = await fetch("/images/upload", {method: "PATCH", headers: {"Upload-Offset": "0"}, body: f.slice(0, 1048576)});
		return r.status;
	})()`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("the first part of the upload: %v", err)
	}
	// ... is offered again after a reload, and goes on from there.
	Navigate(t, js, a.BaseURL+"/images")
	if got := Get(t, js, "pending", chromedp.Evaluate[string](`document.getElementById("upload-pending").dataset.offset`)); got != "1048576" {
		t.Fatalf("the panel offers to go on from %q, want 1048576", got)
	}
	Upload(t, js, "bundle", bundle)
	Submit(t, js, `#upload-button`)
	WaitJS(t, js, "the panel after the upload", `!!document.getElementById("load")`, 2*time.Minute)
	if got := Text(t, js, "#upload-resumed"); !strings.Contains(got, "went on from 1.0 MB") {
		t.Fatalf("after the upload the panel says %q, want that it went on from 1.0 MB", got)
	}
	loadEnds(t, js)
	if st := Get(t, js, "load", chromedp.Evaluate[string](`document.getElementById("load").dataset.status`)); st != "succeeded" {
		t.Fatalf("the load %s: %s", st, pageText(js))
	}
	if n := Get(t, js, "present", chromedp.Evaluate[int](`document.querySelectorAll('#images-list tr[data-present="true"]').length`)); n != len(refs) {
		t.Errorf("%d images present after the load, want %d: %s", n, len(refs), pageText(js))
	}
	for _, ref := range refs {
		if _, err := eng.InspectImage(ctx, ref); err != nil {
			t.Errorf("%s is not on the engine after the load: %v", ref, err)
		}
	}

	// Preflight again: no registry, but every image present.
	Navigate(t, js, a.BaseURL+"/steps/preflight")
	Submit(t, js, `button[value="rerun"]`)
	if got := Get(t, js, "registry", chromedp.Evaluate[string](fmt.Sprintf(`(function(){ var r = document.querySelector('tr[data-check="preflight.registry.%s"]'); return r ? r.dataset.status + " " + r.textContent : "" })()`, host))); !strings.HasPrefix(got, "pass") || !strings.Contains(got, "offline: every image present") {
		t.Errorf("the registry check after the load: %q", got)
	}
	if n := Get(t, js, "notice", chromedp.Evaluate[int](`document.querySelectorAll("#images-notice").length`)); n != 0 {
		t.Error("preflight still links to the Images panel")
	}
}

// loadEnds reloads the Images panel (it names the load it shows) until
// the load is no longer running.
func loadEnds(t *testing.T, ctx context.Context) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		st := Get(t, ctx, "load", chromedp.Evaluate[string](`(function(){ var l = document.getElementById("load"); return l ? l.dataset.status : "" })()`))
		if st != "" && st != "running" {
			return
		}
		Navigate(t, ctx, Location(t, ctx))
	}
	t.Fatalf("the load did not end: %s", pageText(ctx))
}

// TestDemoServesImagesFromRegistry starts the wizard with --demo: its
// stand-in release names images under an in-process registry of the
// wizard itself, from which the Docker Engine pulls them for real, and
// which goes away with the wizard.
func TestDemoServesImagesFromRegistry(t *testing.T) {
	NeedDocker(t)
	bin := StaticBinary(t)
	eng := registrytest.Engine(t)
	a := StartApp(t, Options{ReleaseDir: t.TempDir(), Args: []string{"--demo", "--standin-binary", bin, "--http-addr", "127.0.0.1:0"}})
	line := regexp.MustCompile(`served by an in-process registry at (127\.0\.0\.1:\d+)`).FindStringSubmatch(a.Stdout.String())
	if line == nil {
		t.Fatalf("the demo names no registry:\n%s", a.Stdout)
	}
	host := line[1]
	// The images are published in the background: the wizard serves
	// before they are.
	for deadline := time.Now().Add(3 * time.Minute); !strings.Contains(a.Stdout.String(), "stand-in images are ready in the registry"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) || strings.Contains(a.Stdout.String(), "could not be published") {
			t.Fatalf("the demo registry was not filled:\n%s", a.Stdout)
		}
	}
	dir := filepath.Join(a.StateDir, "demo-release")
	list, err := images.ListRelease(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	refs := images.Refs(list)
	for _, ref := range refs {
		if images.Registry(ref) != host {
			t.Fatalf("the demo release names %s, not an image of its registry %s", ref, host)
		}
	}
	registrytest.RemoveAfter(t, eng, refs...)
	ctx := context.Background()
	if _, err := (&images.Remote{}).Ping(ctx, host); err != nil {
		t.Fatalf("the demo registry does not answer: %v", err)
	}
	final, err := images.Pull(ctx, eng, refs, images.Config{})
	if err != nil {
		t.Fatalf("pull from the demo registry: %v", err)
	}
	for _, p := range final {
		if p.Status != images.Done || p.LayersTotal == 0 {
			t.Errorf("%s: %s after %d layers, want pulled", p.Image, p.Status, p.LayersTotal)
		}
	}
	a.Stop(t)
	if _, err := (&images.Remote{}).Ping(ctx, host); err == nil {
		t.Error("the demo registry still answers after the wizard stopped")
	}
}
