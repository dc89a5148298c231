package e2e

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/logstore"
)

// recreatedService is the service the test recreates: an API that logs a
// heartbeat every 2 s and its start-up lines once per container.
const recreatedService = "maps-api"

// TestLogsAcrossRestartAndRecreation installs the stand-in, restarts the
// wizard (app.Run again on the same state directory), recreates one
// service with docker-compose up -d --force-recreate, and opens Logs: the
// service's timeline holds the lines of its first container from before
// the restart, those written while the wizard was down, the recreation
// marker and the new container's lines, each once; a search narrows it to
// the matching lines; and the download of a view the live tail has grown
// is exactly the lines on the screen.
func TestLogsAcrossRestartAndRecreation(t *testing.T) {
	// The fixture removes the stand-in's main image; its router image goes
	// here, after the fixture's clean-up has removed the containers.
	var version string
	t.Cleanup(func() {
		if eng, err := engine.New(context.Background()); err == nil && version != "" {
			release.RemoveImages(context.Background(), eng, version)
			eng.Close()
		}
	})
	f := newInstallFixture(t)
	version = f.version
	ctx := Browser(t, true)
	f.walkToReview(t, ctx, f.pg.Password)
	Submit(t, ctx, `button[value="install"]`)
	status, seen := watchInstall(t, ctx)
	if status != "succeeded" {
		t.Fatalf("install %s: %s", status, pageText(ctx))
	}
	// The install's page gets the containers' lines from the wizard's one
	// follower of the project.
	if len(seen) < 3 {
		t.Errorf("live log lines arrived on the install's page from %d containers (%v), want at least 3", len(seen), seen)
	}

	// Restart the wizard; the containers write on meanwhile.
	restartedAt := time.Now().UTC()
	f.app.Stop(t)
	time.Sleep(3 * time.Second) // at least one heartbeat while no wizard runs
	f.app = StartApp(t, Options{ReleaseDir: f.release, Args: []string{
		"--standin-binary", StaticBinary(t), "--project", f.project, "--resolver", f.resolver,
		"--http-addr", "127.0.0.1:0", "--expect-timeout", "4m",
	}})
	Navigate(t, ctx, f.app.SignInURL)

	// Recreate one service, as an admin or an upgrade does.
	cctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tool, err := compose.Detect(cctx, execLookPath, compose.Exec)
	if err != nil {
		t.Fatal(err)
	}
	recreatedAt := time.Now().UTC()
	argv := tool.Args(f.project, f.release, "up", "-d", "--force-recreate", "--no-deps", recreatedService)
	if out, err := exec.CommandContext(cctx, argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	time.Sleep(2 * time.Second) // let Chromium see the new container's interface before the next click

	// Open Logs from the navigation, then the service's timeline from the
	// service list.
	Navigate(t, ctx, f.app.BaseURL+"/")
	Submit(t, ctx, "#nav-logs")
	if !strings.HasSuffix(Location(t, ctx), "/logs") {
		t.Fatalf("the Logs entry leads to %s", Location(t, ctx))
	}
	Submit(t, ctx, `#log-services li[data-service="`+recreatedService+`"] a`)
	// The new container's first lines may come after the page: the live
	// tail appends them.
	WaitJS(t, ctx, "the recreation marker and a line after it", `(function(){
		var ls = Array.from(document.querySelectorAll("#log-view .ln"));
		var m = ls.findIndex(function(l){ return l.classList.contains("marker-recreated") });
		return m >= 0 && ls.slice(m + 1).some(function(l){ return !l.classList.contains("marker") });
	})()`, 2*time.Minute)
	lines := viewLines(t, ctx)

	marker := -1
	for i, l := range lines {
		if strings.Contains(l, "| ── ") && strings.Contains(l, " recreated: container ") {
			marker = i
		}
	}
	installMarker := false
	shown := map[string]bool{}
	var before, down, after int
	for i, l := range lines {
		if shown[l] {
			t.Errorf("line shown twice: %q", l)
		}
		shown[l] = true
		if strings.Contains(l, "| ── install of CARTO "+f.version+" started") {
			installMarker = true
		}
		if strings.Contains(l, "| ── ") {
			continue
		}
		ts, err := time.Parse(logstore.TimeLayout, l[:len(logstore.TimeLayout)])
		if err != nil {
			t.Fatalf("line without a time: %q", l)
		}
		switch {
		case i > marker:
			after++
		case ts.Before(restartedAt):
			before++
		case ts.Before(recreatedAt):
			down++ // written while the wizard was restarting, read back from the daemon
		}
		if !strings.Contains(l, " "+recreatedService+" | ") {
			t.Errorf("a line of another service in %s's timeline: %q", recreatedService, l)
		}
	}
	t.Logf("%s's timeline: %d lines from before the restart, %d while it restarted, %d after the recreation marker", recreatedService, before, down, after)
	if before == 0 || down == 0 || after == 0 || !installMarker {
		t.Fatalf("timeline: %d lines from before the restart, %d while it restarted, %d after the recreation, install marker %v:\n%s",
			before, down, after, installMarker, strings.Join(lines, "\n"))
	}

	// A search narrows the timeline to the matching lines: each container
	// logs its start once.
	Run(t, ctx, "type a search", chromedp.SetValue(chromedp.CSS("#log-search"), "starting CARTO stand-in"))
	Submit(t, ctx, `#log-filters button[type=submit]`)
	found := viewLines(t, ctx)
	if len(found) != 2 || len(found) >= len(lines) {
		t.Errorf("the search shows %d lines, want the 2 start lines of %d:\n%s", len(found), len(lines), strings.Join(found, "\n"))
	}
	for _, l := range found {
		if !strings.Contains(l, "starting CARTO stand-in service") {
			t.Errorf("a line that does not match the search: %q", l)
		}
	}

	// Download what is shown, once the live tail has added lines to the
	// view: the page and the file are taken in one go.
	Navigate(t, ctx, f.app.BaseURL+"/logs?service="+recreatedService)
	initial := Get(t, ctx, "count lines", chromedp.Evaluate[int](`document.querySelectorAll("#log-view .ln").length`))
	WaitJS(t, ctx, "live lines", `document.querySelectorAll("#log-view .ln").length > `+strconv.Itoa(initial), time.Minute)
	Get(t, ctx, "download", chromedp.Evaluate[bool](`(function(){
		var a = document.getElementById("log-download");
		window.e2eDownload = {href: a.getAttribute("href"), shown: document.getElementById("log-view").textContent, body: null};
		fetch(a.href, {credentials: "same-origin"}).then(function(r){ return r.text() }).then(function(t){ window.e2eDownload.body = t });
		return true;
	})()`))
	WaitJS(t, ctx, "the download", `window.e2eDownload.body !== null`, 30*time.Second)
	dl := Get(t, ctx, "read the download", chromedp.Evaluate[map[string]string](`window.e2eDownload`))
	if dl["body"] != dl["shown"] || strings.Count(dl["shown"], "\n") <= initial {
		t.Errorf("the download (%s, %d lines) is not the %d lines shown:\nshown:\n%s\ndownloaded:\n%s",
			dl["href"], strings.Count(dl["body"], "\n"), strings.Count(dl["shown"], "\n"), dl["shown"], dl["body"])
	}
}

// viewLines returns the lines of the Logs page's view.
func viewLines(t *testing.T, ctx context.Context) []string {
	t.Helper()
	text := Get(t, ctx, "read the log view", chromedp.Evaluate[string](`document.getElementById("log-view").textContent`))
	if text == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(text, "\n"), "\n")
}
