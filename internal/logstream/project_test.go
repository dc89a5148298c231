package logstream_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/logstore"
	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

// projectDocker is an in-memory engine for the project follower: containers
// with stored log entries, served like the daemon serves them (since
// inclusive, following while the container runs), their generations, and
// an events stream the test feeds.
type projectDocker struct {
	mu      sync.Mutex
	conts   map[string]*pcont
	events  chan engine.ContainerEvent
	changed chan struct{}
	subs    int
}

type pcont struct {
	gen     engine.ContainerGeneration
	entries []pentry
}

type pentry struct {
	stream byte
	ts     time.Time
	text   string
}

func newProjectDocker() *projectDocker {
	return &projectDocker{conts: map[string]*pcont{}, events: make(chan engine.ContainerEvent), changed: make(chan struct{})}
}

func (d *projectDocker) update(fn func()) {
	d.mu.Lock()
	fn()
	close(d.changed)
	d.changed = make(chan struct{})
	d.mu.Unlock()
}

func (d *projectDocker) set(g engine.ContainerGeneration) {
	d.update(func() {
		c := d.conts[g.ID]
		if c == nil {
			c = &pcont{}
			d.conts[g.ID] = c
		}
		c.gen = g
	})
}

func (d *projectDocker) remove(id string) { d.update(func() { delete(d.conts, id) }) }

func (d *projectDocker) log(id string, stream byte, ts time.Time, text string) {
	d.update(func() { c := d.conts[id]; c.entries = append(c.entries, pentry{stream, ts, text}) })
}

func (d *projectDocker) info(c *pcont) engine.ContainerInfo {
	g := c.gen
	state := "exited"
	if g.Running {
		state = "running"
	}
	return engine.ContainerInfo{ID: g.ID, Name: g.Name, Service: g.Service, State: state, Running: g.Running, StartedAt: g.StartedAt}
}

func (d *projectDocker) ContainerEvents(ctx context.Context, project string, since time.Time) (<-chan engine.ContainerEvent, <-chan error) {
	d.mu.Lock()
	d.subs++
	d.mu.Unlock()
	return d.events, make(chan error)
}

func (d *projectDocker) ProjectContainers(ctx context.Context, project string) ([]engine.ContainerInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []engine.ContainerInfo
	for _, c := range d.conts {
		out = append(out, d.info(c))
	}
	return out, nil
}

func (d *projectDocker) InspectContainer(ctx context.Context, id string) (engine.ContainerInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.conts[id]
	if !ok {
		return engine.ContainerInfo{}, fmt.Errorf("no such container %s", id)
	}
	return d.info(c), nil
}

func (d *projectDocker) ContainerGeneration(ctx context.Context, id string) (engine.ContainerGeneration, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.conts[id]
	if !ok {
		return engine.ContainerGeneration{}, fmt.Errorf("no such container %s", id)
	}
	return c.gen, nil
}

func (d *projectDocker) FollowLogs(ctx context.Context, id string, since time.Time) (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() {
		sent := 0
		for {
			d.mu.Lock()
			c := d.conts[id]
			if c == nil {
				d.mu.Unlock()
				pw.Close()
				return
			}
			var out []byte
			for ; sent < len(c.entries); sent++ {
				e := c.entries[sent]
				if !e.ts.Before(since) {
					line := e.ts.UTC().Format("2006-01-02T15:04:05.000000000Z07:00") + " " + e.text + "\n"
					hdr := []byte{e.stream, 0, 0, 0, 0, 0, 0, byte(len(line))}
					out = append(append(out, hdr...), line...)
				}
			}
			running, changed := c.gen.Running, d.changed
			d.mu.Unlock()
			if _, err := pw.Write(out); err != nil {
				return
			}
			if !running {
				pw.Close()
				return
			}
			select {
			case <-changed:
			case <-ctx.Done():
				pw.CloseWithError(ctx.Err())
				return
			}
		}
	}()
	return pr, nil
}

func (d *projectDocker) send(t *testing.T, ev engine.ContainerEvent) {
	t.Helper()
	select {
	case d.events <- ev:
	case <-time.After(5 * time.Second):
		t.Fatalf("event %s %s not taken", ev.Action, ev.ID)
	}
}

var p0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func pat(ms int) time.Time { return p0.Add(time.Duration(ms) * time.Millisecond) }

// TestProjectFollowerAcrossGenerationsAndRestarts follows a service through
// a restart and a recreation with a new image, stops (the wizard is
// restarted) while the container writes on and restarts again and a new
// service appears, then follows again from the store: the store holds one
// timeline per service, with the markers in place, every line once, and no
// secret.
func TestProjectFollowerAcrossGenerationsAndRestarts(t *testing.T) {
	t.Parallel()
	d := newProjectDocker()
	dir := filepath.Join(t.TempDir(), "logs")
	masker := logstream.NewMasker([]string{"hunter22"})
	api1 := engine.ContainerGeneration{ID: "a1", Name: "p-api-1", Service: "api", Number: 1, Image: "api:1", ImageID: "sha256:aaaa",
		Running: true, Created: pat(0), StartedAt: pat(1)}
	d.set(api1)
	d.log("a1", 1, pat(1), "L1")
	d.log("a1", 2, pat(2), "L2 password=hunter22")
	d.log("a1", 1, pat(3), "L3")

	// follow runs a project follower over a store opened on dir, as the
	// wizard does, until the returned stop is called.
	follow := func() (*logstream.ProjectFollower, *logstore.Store, func()) {
		st, err := logstore.Open(logstore.Config{Dir: dir, Masker: masker})
		if err != nil {
			t.Fatal(err)
		}
		pf := logstream.NewProjectFollower(logstream.ProjectConfig{Project: "p", Docker: d, History: st, Masker: masker,
			Now: func() time.Time { return pat(50) }, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- pf.Run(ctx) }()
		return pf, st, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			if err := st.Close(); err != nil {
				t.Error(err)
			}
		}
	}
	has := func(st *logstore.Store, text string) func() bool {
		return func() bool {
			res, err := st.Query(logstore.Query{Text: text})
			return err == nil && len(res.Records) > 0
		}
	}

	pf, st, stop := follow()
	testenv.WaitFor(t, "the first lines", 5*time.Second, has(st, "L3"))
	var wmu sync.Mutex
	var watched []string
	unwatch := pf.Watch(func(s logstream.StateChange) {
		wmu.Lock()
		watched = append(watched, s.Action+" "+s.Name+" "+s.State)
		wmu.Unlock()
	})
	pf.Mark(logstream.MarkInstall, "install of 2026.1 started by admin (hunter22)")

	// docker restart: die, then the same container starts again.
	d.update(func() { c := d.conts["a1"]; c.gen.Running = false; c.gen.FinishedAt = pat(90) })
	d.send(t, engine.ContainerEvent{ID: "a1", Name: "p-api-1", Service: "api", Action: "die", ExitCode: 137, Time: pat(90)})
	d.log("a1", 1, pat(101), "L4")
	d.update(func() { c := d.conts["a1"]; c.gen.Running = true; c.gen.StartedAt = pat(100); c.gen.RestartCount = 1 })
	d.send(t, engine.ContainerEvent{ID: "a1", Name: "p-api-1", Service: "api", Action: "start", Time: pat(100)})
	d.log("a1", 1, pat(102), "L5")
	testenv.WaitFor(t, "the lines after the restart", 5*time.Second, has(st, "L5"))

	// docker compose up --force-recreate with a new image: the old
	// container stops and goes, a new one of the same service starts.
	d.update(func() { c := d.conts["a1"]; c.gen.Running = false; c.gen.FinishedAt = pat(150) })
	d.send(t, engine.ContainerEvent{ID: "a1", Name: "p-api-1", Service: "api", Action: "die", ExitCode: 0, Time: pat(150)})
	d.remove("a1")
	d.send(t, engine.ContainerEvent{ID: "a1", Name: "p-api-1", Service: "api", Action: "destroy", Time: pat(160)})
	d.set(engine.ContainerGeneration{ID: "a2", Name: "p-api-1", Service: "api", Number: 1, Image: "api:2", ImageID: "sha256:bbbb",
		Running: true, Created: pat(200), StartedAt: pat(201)})
	d.log("a2", 1, pat(202), "L6")
	d.log("a2", 1, pat(203), "L7")
	d.send(t, engine.ContainerEvent{ID: "a2", Name: "p-api-1", Service: "api", Action: "start", Time: pat(201)})
	testenv.WaitFor(t, "the new container's lines", 5*time.Second, has(st, "L7"))
	unwatch()
	if pf.Streams() != 1 {
		t.Errorf("%d daemon streams open, want 1", pf.Streams())
	}
	stop()

	// Meanwhile, without a wizard: a2 writes on and restarts, db appears.
	d.log("a2", 1, pat(210), "L8")
	d.log("a2", 1, pat(211), "L9")
	d.update(func() { c := d.conts["a2"]; c.gen.StartedAt, c.gen.FinishedAt = pat(300), pat(250) })
	d.log("a2", 2, pat(301), "L10 hunter22")
	d.set(engine.ContainerGeneration{ID: "b1", Name: "p-db-1", Service: "db", Number: 1, Image: "db:1", ImageID: "sha256:cccc",
		Running: true, Created: pat(302), StartedAt: pat(303)})
	d.log("b1", 1, pat(305), "D1")

	pf, st, stop = follow()
	testenv.WaitFor(t, "the backfill", 5*time.Second, func() bool { return has(st, "L10")() && has(st, "D1")() })
	time.Sleep(50 * time.Millisecond) // room for a duplicate to show up
	live := pf.Hub().Poll(nil, 1000)
	var liveTexts []string
	for _, l := range live.Lines {
		liveTexts = append(liveTexts, l.Stream.String()+" "+l.Text)
	}
	res, err := st.Query(logstore.Query{Services: []string{"api"}})
	if err != nil {
		t.Fatal(err)
	}
	svcs, err := st.Services()
	stop()
	if err != nil {
		t.Fatal(err)
	}

	var got []string
	for _, r := range res.Records {
		got = append(got, fmt.Sprintf("%s %s %s %s", r.Time.Sub(p0), r.Service, r.Stream, r.Text))
	}
	want := []string{
		"1ms api stdout L1",
		"2ms api stderr L2 password=****",
		"3ms api stdout L3",
		"50ms carto-setup marker install of 2026.1 started by admin (****)",
		"90ms api marker p-api-1 exited with code 137",
		"90.000001ms api marker p-api-1 restarted",
		"101ms api stdout L4",
		"102ms api stdout L5",
		"150ms api marker p-api-1 exited with code 0",
		"200ms api marker p-api-1 recreated: container a2 replaces a1",
		"200ms api marker p-api-1 image changed: api:1 (aaaa) -> api:2 (bbbb)",
		"202ms api stdout L6",
		"203ms api stdout L7",
		"210ms api stdout L8",
		"211ms api stdout L9",
		"250.000001ms api marker p-api-1 restarted",
		"301ms api stderr L10 ****",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("api timeline (-want +got):\n%s", diff)
	}
	// The second follower's live view holds only what it read: the
	// backfill, without the lines the store had already.
	wantLive := []string{"marker p-api-1 restarted", "stdout L8", "stdout L9", "stderr L10 ****", "stdout D1"}
	if diff := cmp.Diff(wantLive, liveTexts); diff != "" {
		t.Errorf("live view after the restart (-want +got):\n%s", diff)
	}
	var svcLines []string
	for _, s := range svcs {
		svcLines = append(svcLines, fmt.Sprintf("%s %d lines %d errors", s.Service, s.Lines, s.Errors))
	}
	if diff := cmp.Diff([]string{"api 16 lines 1 errors", "db 1 lines 0 errors"}, svcLines); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
	wmu.Lock()
	defer wmu.Unlock()
	wantWatched := []string{"list p-api-1 running", "die p-api-1 ", "start p-api-1 ", "die p-api-1 ", "destroy p-api-1 ", "start p-api-1 "}
	if diff := cmp.Diff(wantWatched, watched); diff != "" {
		t.Errorf("watched state changes (-want +got):\n%s", diff)
	}
	if strings.Contains(strings.Join(got, "\n"), "hunter22") {
		t.Error("a secret reached the store")
	}
}

// TestProjectFollowerTee gives an install's hub a copy of the lines and
// markers that arrive while it is teed, and nothing before or after, with
// one daemon stream for both hubs.
func TestProjectFollowerTee(t *testing.T) {
	t.Parallel()
	d := newProjectDocker()
	d.set(engine.ContainerGeneration{ID: "w1", Name: "p-web-1", Service: "web", Number: 1, Image: "web:1", ImageID: "sha256:dddd",
		Running: true, Created: pat(0), StartedAt: pat(1)})
	d.log("w1", 1, pat(1), "before")
	pf := logstream.NewProjectFollower(logstream.ProjectConfig{Project: "p", Docker: d, Masker: logstream.NewMasker([]string{"s3cret-value"}),
		Now: func() time.Time { return pat(5) }, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- pf.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	texts := func(h *logstream.Hub) []string {
		var out []string
		for _, l := range h.Poll(nil, 100).Lines {
			out = append(out, l.Service+" "+l.Stream.String()+" "+l.Text)
		}
		return out
	}
	testenv.WaitFor(t, "the first line", 5*time.Second, func() bool { return len(texts(pf.Hub())) == 1 })

	job := logstream.NewHub(logstream.HubConfig{})
	stop := pf.Tee(job)
	pf.Mark(logstream.MarkInstall, "install started")
	d.log("w1", 2, pat(6), "during s3cret-value")
	testenv.WaitFor(t, "the teed line", 5*time.Second, func() bool { return len(texts(job)) == 2 })
	stop()
	stop() // twice is harmless
	d.log("w1", 1, pat(7), "after")
	testenv.WaitFor(t, "the line after the tee", 5*time.Second, func() bool { return len(texts(pf.Hub())) == 4 })

	want := []string{"carto-setup marker install started", "web stderr during ****"}
	if diff := cmp.Diff(want, texts(job)); diff != "" {
		t.Errorf("the teed hub (-want +got):\n%s", diff)
	}
	if pf.Opened() != 1 {
		t.Errorf("%d daemon streams opened, want 1", pf.Opened())
	}
}
