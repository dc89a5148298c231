package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// fakeInstaller keeps one job in memory with a real hub.
type fakeInstaller struct {
	mu       sync.Mutex
	problems []check.Result
	images   []steps.ImageState
	job      steps.InstallStatus
	hub      *logstream.Hub
	started  int
}

func newFakeInstaller() *fakeInstaller {
	return &fakeInstaller{hub: logstream.NewHub(logstream.HubConfig{MaxLines: 100})}
}

func (f *fakeInstaller) Review(context.Context, wizard.State) (steps.Review, error) {
	return steps.Review{
		Diff: []deploy.DiffLine{{Kind: deploy.DiffRemoved, Text: "SELFHOSTED_DOMAIN=carto3-onprem.lan"}, {Kind: deploy.DiffAdded, Text: "SELFHOSTED_DOMAIN=carto.example.com"},
			{Kind: deploy.DiffAdded, Text: "POSTGRES_ADMIN_PASSWORD=****"}},
		Files:    []deploy.FileSummary{{Path: "certs/key.json", Mode: 0o600, Size: 2300, Secret: true}},
		Command:  "docker-compose -p carto-selfhosted up -d",
		Problems: f.problems,
		Images:   f.images,
	}, nil
}

func (f *fakeInstaller) Start(wizard.State) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.job.Record.Status == jobs.Running {
		return "", jobs.ErrBusy
	}
	f.started++
	f.job = steps.InstallStatus{Record: jobs.Record{ID: "job1", Kind: "install", Status: jobs.Running, Started: time.Now()}, Live: true,
		Expected: []deploy.Expectation{{Service: "router-http", Verdict: deploy.OK, Status: deploy.ServiceStatus{Service: "router-http", State: "running"}}}}
	return "job1", nil
}

func (f *fakeInstaller) Status(id string) (steps.InstallStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.job, id == f.job.Record.ID
}

func (f *fakeInstaller) Latest() (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.job.Record.ID, f.job.Record.ID != ""
}

func (f *fakeInstaller) Logs(id string) (*logstream.Hub, bool) { return f.hub, id == "job1" }

func (f *fakeInstaller) finish(status string) {
	f.mu.Lock()
	f.job.Record.Status = jobs.Status(status)
	f.mu.Unlock()
}

func TestReviewAndInstall(t *testing.T) {
	f := newFixture(t)
	inst := f.deps.Installer.(*fakeInstaller)
	markDone(f, wizard.Preflight, wizard.Package, wizard.Domain, wizard.Database, wizard.TLS, wizard.Buckets)

	inst.problems = []check.Result{{ID: "install.admin_password", Status: check.Fail, Message: "There is no Postgres admin password."}}
	res, doc := f.get(t, "/steps/review")
	if res.StatusCode != 200 || doc.Find("#problems").Length() != 1 || doc.Find(`button[value="install"][disabled]`).Length() != 1 {
		t.Fatalf("review with a problem: %d", res.StatusCode)
	}
	res, _ = f.post(t, "/steps/review", url.Values{"action": {"install"}})
	if res.StatusCode != http.StatusUnprocessableEntity || inst.started != 0 {
		t.Fatalf("install with a problem: %d, started %d", res.StatusCode, inst.started)
	}

	inst.problems = nil
	_, doc = f.get(t, "/steps/review")
	if !strings.Contains(doc.Find("#diff").Text(), "+ SELFHOSTED_DOMAIN=carto.example.com") || !strings.Contains(doc.Find("#command").Text(), "up -d") {
		t.Fatal("review does not show the diff and command")
	}
	res, _ = f.post(t, "/steps/review", url.Values{"action": {"install"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/jobs/job1" {
		t.Fatalf("install: %d to %s", res.StatusCode, res.Header.Get("Location"))
	}
	// A second press while it runs goes to the same job.
	res, _ = f.post(t, "/steps/review", url.Values{"action": {"install"}})
	if res.Header.Get("Location") != "/jobs/job1" || inst.started != 1 {
		t.Fatalf("second install: %s, started %d", res.Header.Get("Location"), inst.started)
	}

	inst.hub.Append(logstream.Line{Container: "carto-router-http-1", Service: "router-http", Stream: logstream.Stdout, TS: time.Now(), Text: "listening on :8443"})
	res, doc = f.get(t, "/jobs/job1")
	chip := doc.Find(`#board li.chip[data-service="router-http"]`)
	if res.StatusCode != 200 || chip.Length() != 1 {
		t.Fatalf("job page: %d", res.StatusCode)
	}
	if st, _ := chip.Attr("data-status"); st != "ok" || !chip.HasClass("ok") || strings.TrimSpace(chip.Find(".state").Text()) != "running" {
		t.Errorf("router-http chip: status %q, state %q", st, chip.Find(".state").Text())
	}
	if got := strings.TrimSpace(doc.Find("#board-ready strong").Text()); got != "1 of 1 ready" {
		t.Errorf("ready count %q", got)
	}
	if strings.TrimSpace(doc.Find("#elapsed .value").Text()) == "" {
		t.Error("no elapsed time on a running install")
	}
	if html, _ := doc.Html(); !strings.Contains(html, `<noscript><meta http-equiv="refresh"`) {
		t.Fatal("a running job page must refresh itself without JavaScript")
	}
	inst.finish("succeeded")
	_, doc = f.get(t, "/jobs/job1")
	if html, _ := doc.Html(); strings.Contains(html, `http-equiv="refresh"`) || doc.Find(`a[href="/steps/smoke"]`).Length() != 1 {
		t.Fatal("finished job page still refreshes or offers no way on")
	}

	req := httptest.NewRequest("GET", "/jobs/job1/poll?after=carto-router-http-1:0", nil)
	req.AddCookie(f.cookie)
	res = f.do(t, req)
	var msg logMessage
	if err := json.NewDecoder(res.Body).Decode(&msg); err != nil || len(msg.Lines) != 1 || msg.Lines[0].Text != "listening on :8443" || msg.Cursors["carto-router-http-1"] != 1 {
		t.Fatalf("poll: %+v %v", msg, err)
	}
}

// TestJobLogsWebsocket streams lines over a real websocket, refuses a
// foreign Origin, resumes from cursors, and ends with "done".
func TestJobLogsWebsocket(t *testing.T) {
	f := newFixture(t)
	inst := f.deps.Installer.(*fakeInstaller)
	inst.Start(wizard.State{})
	srv := httptest.NewServer(f.router)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	f.deps.HostNames = append(f.deps.HostNames, strings.Split(host, ":")[0])
	wsURL := "ws://" + host + "/jobs/job1/logs"
	hdr := func(origin string) http.Header {
		h := http.Header{}
		h.Set("Origin", origin)
		h.Set("Cookie", SessionCookie+"="+f.cookie.Value)
		return h
	}

	if _, res, err := websocket.DefaultDialer.Dial(wsURL, hdr("https://evil.example")); err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: err=%v", err)
	}
	h := hdr("http://" + host)
	h.Del("Cookie")
	if _, res, err := websocket.DefaultDialer.Dial(wsURL, h); err == nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no session: err=%v", err)
	}

	for i := range 3 {
		inst.hub.Append(logstream.Line{Container: "c1", Service: "workspace-api", Stream: logstream.Stdout, TS: time.Now(), Text: "line " + string(rune('a'+i))})
	}
	conn, _, err := websocket.DefaultDialer.Dial(wsURL+"?after=c1:1", hdr("http://"+host))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []string
	sawDone := false
	for !sawDone {
		var m logMessage
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatalf("read: %v (got %v)", err, got)
		}
		for _, l := range m.Lines {
			got = append(got, l.Text)
		}
		switch {
		case m.Type == "board" && len(got) == 2:
			inst.hub.Append(logstream.Line{Container: "c1", Service: "workspace-api", Stream: logstream.Stderr, TS: time.Now(), Text: "password=****"})
		case m.Type == "lines" && len(got) == 3:
			inst.finish("succeeded")
		case m.Type == "done":
			sawDone = true
		}
	}
	if strings.Join(got, "|") != "line b|line c|password=****" {
		t.Fatalf("lines = %v, want the two after the cursor and the live one", got)
	}
}

// TestReviewListsImagesToPull: the review names the release's images,
// which Docker has and which the install pulls first, with the way to an
// offline bundle; with every image present it says nothing is pulled.
func TestReviewListsImagesToPull(t *testing.T) {
	f := newFixture(t)
	inst := f.deps.Installer.(*fakeInstaller)
	markDone(f, wizard.Preflight, wizard.Package, wizard.Domain, wizard.Database, wizard.TLS, wizard.Buckets, wizard.Advanced)
	inst.images = []steps.ImageState{{Ref: "reg.example/carto/router:1", Present: true}, {Ref: "reg.example/carto/api:1"}}
	_, doc := f.get(t, "/steps/review")
	if got := doc.Find(`#review-images tr[data-image="reg.example/carto/api:1"][data-present="false"]`).Text(); !strings.Contains(got, "to pull") {
		t.Errorf("the missing image's row: %q", got)
	}
	if doc.Find(`#review-images tr[data-image="reg.example/carto/router:1"][data-present="true"]`).Length() != 1 {
		t.Error("the present image is not listed as present")
	}
	if got := doc.Find("#review-images-summary").Text(); !strings.Contains(got, "pulls 1 of the 2 images") || doc.Find(`#review-images-summary a[href="/images?back=/steps/review"]`).Length() != 1 {
		t.Errorf("summary %q", got)
	}
	inst.images[1].Present = true
	_, doc = f.get(t, "/steps/review")
	if got := doc.Find("#review-images-summary").Text(); !strings.Contains(got, "nothing is pulled") {
		t.Errorf("with every image present: %q", got)
	}
}
