package logstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

// fakeDocker is an in-memory engine: containers with stored log entries that
// FollowLogs serves like the daemon (since inclusive, following while the
// container runs), and an events stream the test feeds.
type fakeDocker struct {
	mu      sync.Mutex
	conts   map[string]*fakeCont
	calls   []string
	events  chan engine.ContainerEvent
	evErr   chan error // of the current subscription
	changed chan struct{}
	subs    int
}

type fakeCont struct {
	info    engine.ContainerInfo
	entries []fakeEntry
}

type fakeEntry struct {
	stream byte
	ts     time.Time
	text   string
}

func newFakeDocker() *fakeDocker {
	return &fakeDocker{conts: map[string]*fakeCont{}, events: make(chan engine.ContainerEvent), changed: make(chan struct{})}
}

// update changes the fake under its lock and wakes the log streams.
func (f *fakeDocker) update(fn func()) {
	f.mu.Lock()
	fn()
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

func (f *fakeDocker) add(id, service string, running bool) {
	f.update(func() {
		f.conts[id] = &fakeCont{info: engine.ContainerInfo{ID: id, Name: "p-" + service, Service: service, Running: running}}
	})
}

func (f *fakeDocker) log(id string, stream byte, ts time.Time, text string) {
	f.update(func() { c := f.conts[id]; c.entries = append(c.entries, fakeEntry{stream, ts, text}) })
}

func (f *fakeDocker) setRunning(id string, running bool) {
	f.update(func() { f.conts[id].info.Running = running })
}

func (f *fakeDocker) record(call string) {
	f.mu.Lock()
	f.calls = append(f.calls, call)
	f.mu.Unlock()
}

func (f *fakeDocker) ContainerEvents(ctx context.Context, project string, since time.Time) (<-chan engine.ContainerEvent, <-chan error) {
	f.record("events")
	errs := make(chan error, 1)
	f.mu.Lock()
	f.evErr = errs
	f.subs++
	f.mu.Unlock()
	return f.events, errs
}

// breakEvents ends the current events subscription with an error.
func (f *fakeDocker) breakEvents() {
	f.mu.Lock()
	f.evErr <- errors.New("daemon went away")
	f.mu.Unlock()
}

func (f *fakeDocker) ProjectContainers(ctx context.Context, project string) ([]engine.ContainerInfo, error) {
	f.record("list")
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []engine.ContainerInfo
	for _, c := range f.conts {
		out = append(out, c.info)
	}
	return out, nil
}

func (f *fakeDocker) InspectContainer(ctx context.Context, id string) (engine.ContainerInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.conts[id]
	if !ok {
		return engine.ContainerInfo{}, fmt.Errorf("no such container %s", id)
	}
	return c.info, nil
}

func (f *fakeDocker) FollowLogs(ctx context.Context, id string, since time.Time) (io.ReadCloser, error) {
	f.record("logs " + id)
	pr, pw := io.Pipe()
	go func() {
		sent := 0
		for {
			f.mu.Lock()
			c := f.conts[id]
			var out []byte
			for ; sent < len(c.entries); sent++ {
				e := c.entries[sent]
				if !e.ts.Before(since) {
					out = append(out, frame(e.stream, e.ts.UTC().Format("2006-01-02T15:04:05.000000000Z07:00")+" "+e.text+"\n")...)
				}
			}
			running, changed := c.info.Running, f.changed
			f.mu.Unlock()
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

// texts returns every line in h as "stream:text".
func texts(h *Hub) []string {
	var out []string
	for _, l := range h.Poll(nil, 1<<20).Lines {
		out = append(out, l.Stream.String()+":"+l.Text)
	}
	return out
}

func TestFollowerRestartNoLossNoRepeat(t *testing.T) {
	base := runtime.NumGoroutine()
	d := newFakeDocker()
	t0 := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

	d.add("c1", "api", true)
	d.log("c1", 1, at(0), "one")
	d.log("c1", 2, at(5), "err five") // stderr ahead of stdout
	d.log("c1", 1, at(3), "three")
	d.log("c1", 1, at(3), "three") // identical line, same timestamp: both kept
	d.log("c1", 1, at(3), "three b")

	h := NewHub(HubConfig{})
	var states []StateChange
	var smu sync.Mutex
	f := NewFollower(FollowerConfig{
		Project: "p", Docker: d, Hub: h, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond,
		Masker: NewMasker([]string{"hunter22"}),
		OnState: func(s StateChange) {
			smu.Lock()
			states = append(states, s)
			smu.Unlock()
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.Run(ctx) }()

	testenv.WaitFor(t, "first lines", 5*time.Second, func() bool { return len(texts(h)) == 5 })
	if got := f.Streams(); got != 1 {
		t.Errorf("Streams = %d, want 1", got)
	}

	// Stop: the stream ends. Lines written meanwhile, including one at the
	// last delivered stdout timestamp, must arrive once after the restart.
	d.setRunning("c1", false)
	testenv.WaitFor(t, "stream to close", 5*time.Second, func() bool { return f.Streams() == 0 })
	d.log("c1", 1, at(3), "three c") // same ts as the last stdout line, new text
	d.log("c1", 2, at(6), "err six")
	d.setRunning("c1", true)
	d.events <- engine.ContainerEvent{ID: "c1", Name: "p-api", Service: "api", Action: "start", Time: at(7)}
	d.log("c1", 1, at(8), "after restart password=hunter22")
	want := []string{
		"stdout:one", "stderr:err five", "stdout:three", "stdout:three", "stdout:three b",
		"stdout:three c", "stderr:err six", "stdout:after restart password=****",
	}
	testenv.WaitFor(t, "lines after restart", 5*time.Second, func() bool { return len(texts(h)) >= len(want) })
	time.Sleep(50 * time.Millisecond) // let any duplicate arrive
	got := texts(h)
	slices.Sort(got)
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}

	// A broken events stream is renewed: subscribe again, then list.
	d.breakEvents()
	testenv.WaitFor(t, "re-subscription", 5*time.Second, func() bool { d.mu.Lock(); defer d.mu.Unlock(); return d.subs == 2 })
	testenv.WaitFor(t, "re-list", 5*time.Second, func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return slices.Equal(d.calls[len(d.calls)-2:], []string{"events", "list"})
	})
	d.mu.Lock()
	if d.calls[0] != "events" || d.calls[1] != "list" {
		t.Errorf("first calls %v, want events before list", d.calls[:2])
	}
	d.mu.Unlock()
	if f.Streams() != 1 {
		t.Errorf("Streams = %d after reconnect, want still 1", f.Streams())
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	smu.Lock()
	var actions []string
	for _, s := range states {
		actions = append(actions, s.Action)
	}
	smu.Unlock()
	if !slices.Contains(actions, "list") || !slices.Contains(actions, "start") {
		t.Errorf("state changes %v, want list and start", actions)
	}
	waitGoroutines(t, base)
}

func TestFollowerShortLivedContainer(t *testing.T) {
	d := newFakeDocker()
	h := NewHub(HubConfig{})
	f := NewFollower(FollowerConfig{Project: "p", Docker: d, Hub: h, MinBackoff: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error)
	go func() { done <- f.Run(ctx) }()
	testenv.WaitFor(t, "subscription", 5*time.Second, func() bool { d.mu.Lock(); defer d.mu.Unlock(); return d.subs == 1 })

	// A migration container that has already exited when its start event
	// is handled is still read once.
	d.add("m1", "migrations", false)
	d.log("m1", 1, time.Now(), "migrated")
	d.events <- engine.ContainerEvent{ID: "m1", Action: "start"}
	testenv.WaitFor(t, "the exited container's line", 5*time.Second, func() bool { return len(h.Poll(nil, 10).Lines) == 1 })
	testenv.WaitFor(t, "stream to close", 5*time.Second, func() bool { return f.Streams() == 0 })
	// A stopped container found by listing is not followed.
	d.add("s1", "stopped", false)
	d.breakEvents()
	testenv.WaitFor(t, "re-list", 5*time.Second, func() bool { d.mu.Lock(); defer d.mu.Unlock(); return d.calls[len(d.calls)-1] == "list" })
	time.Sleep(20 * time.Millisecond)
	// One read, plus the final read every stream gets once its container
	// has stopped.
	if n := f.Opened(); n != 2 {
		t.Errorf("opened %d streams, want 2", n)
	}
	cancel()
	<-done
}

// TestFollowerDrainsEventsWhileBusy checks that a slow consumer of state
// changes does not hold up the goroutine draining the daemon's events: the
// daemon drops events for subscribers that lag 100 ms.
func TestFollowerDrainsEventsWhileBusy(t *testing.T) {
	d := newFakeDocker()
	release := make(chan struct{})
	var once sync.Once
	f := NewFollower(FollowerConfig{Project: "p", Docker: d, Hub: NewHub(HubConfig{}), OnState: func(StateChange) {
		once.Do(func() { <-release })
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.Run(ctx) }()
	for i := range 200 {
		select {
		case d.events <- engine.ContainerEvent{ID: fmt.Sprint("gone", i), Action: "die"}:
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d not drained while OnState is busy", i)
		}
	}
	close(release)
	cancel()
	<-done
}
