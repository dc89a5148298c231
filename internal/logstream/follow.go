package logstream

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carto-setup/carto-setup/internal/engine"
)

// Docker is what a Follower needs from the Docker Engine; *engine.Client
// implements it.
type Docker interface {
	ContainerEvents(ctx context.Context, project string, since time.Time) (<-chan engine.ContainerEvent, <-chan error)
	ProjectContainers(ctx context.Context, project string) ([]engine.ContainerInfo, error)
	InspectContainer(ctx context.Context, id string) (engine.ContainerInfo, error)
	FollowLogs(ctx context.Context, id string, since time.Time) (io.ReadCloser, error)
}

// StateChange reports a container event, or a container found when the
// follower (re)lists the project, for a status board.
type StateChange struct {
	ID      string
	Name    string
	Service string
	// Action is the daemon's event action ("create", "start", "die",
	// "restart", "stop", "destroy", "health_status: healthy", ...), or
	// "list" for a container found by listing, with its State.
	Action   string
	State    string // only for "list"
	ExitCode int    // for "die"
	Time     time.Time
}

// FollowerConfig holds what a Follower works with.
type FollowerConfig struct {
	Project string  // Compose project name (label com.docker.compose.project)
	Docker  Docker  // the engine
	Hub     *Hub    // where lines go
	Masker  *Masker // applied to every line before it is stored; may be nil
	// OnState, if set, is called for every container event and listed
	// container, in order, from one goroutine that is not the one draining
	// the daemon's events. It should return quickly: while it runs, new
	// containers' logs are not opened.
	OnState func(StateChange)
	// Sink, if set, receives every line after the Hub has it, with the
	// ID of its container and the masker its text went through, from that
	// container's goroutine (so in order per container). The project
	// follower keeps history through it.
	Sink func(id string, l Line, masked *Masker)
	// Resume, if set, says how far a container's log was delivered
	// before this follower started (a store's cursor), so that its first
	// stream starts there instead of at the beginning, without repeating
	// a line.
	Resume func(id string) (Position, bool)
	Log    *slog.Logger // nil discards
	// MinBackoff and MaxBackoff bound the wait before re-subscribing to
	// events or re-opening a log stream; 0 means 200 ms and 5 s.
	MinBackoff, MaxBackoff time.Duration
}

// Follower copies the logs of every container of a Compose project into a
// Hub, following containers as they start, restart and stop, with exactly
// one daemon log stream per running container.
type Follower struct {
	cfg     FollowerConfig
	masker  atomic.Pointer[Masker]
	streams atomic.Int64
	opened  atomic.Int64

	mu    sync.Mutex
	conts map[string]*followed // by container ID
	wg    sync.WaitGroup       // log goroutines
}

// followed is the state of one container. The fields below mu belong to the
// single log goroutine that runs while active is true.
type followed struct {
	id, name, service string
	tty               bool
	active            bool // a log goroutine runs (guarded by Follower.mu)
	restart           bool // a start event came while it ran (Follower.mu)

	pos Position // how far its log was delivered
}

// NewFollower returns a follower; Run starts it.
func NewFollower(cfg FollowerConfig) *Follower {
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	f := &Follower{cfg: cfg, conts: make(map[string]*followed)}
	f.masker.Store(cfg.Masker)
	return f
}

// SetMasker replaces the masker for the lines that arrive from now on, for
// when the wizard learns a new secret while containers run. Lines already
// stored are not changed.
func (f *Follower) SetMasker(m *Masker) { f.masker.Store(m) }

// Streams returns the number of daemon log streams open right now.
func (f *Follower) Streams() int { return int(f.streams.Load()) }

// Opened returns how many daemon log streams have been opened in total.
func (f *Follower) Opened() int { return int(f.opened.Load()) }

// Run follows the project until ctx is cancelled, then closes every stream,
// waits for its goroutines and returns nil. Errors of the daemon are logged
// and retried with backoff: the events subscription is renewed (asking the
// daemon to replay what was missed), the project re-listed and every running
// container's stream resumed from its last timestamp.
func (f *Follower) Run(ctx context.Context) error {
	q := newQueue()
	var worker sync.WaitGroup
	worker.Go(func() { f.work(ctx, q) })
	defer func() {
		worker.Wait()
		f.wg.Wait()
	}()

	var since time.Time
	bo := f.newBackoff()
	failing := false
	for {
		subctx, cancel := context.WithCancel(ctx)
		began := time.Now()
		err := f.watch(subctx, q, &since)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		// One warning per outage: a daemon that stays away (Docker not
		// installed yet) would otherwise fill the console.
		if time.Since(began) > f.cfg.MaxBackoff {
			bo.reset()
			failing = false
		}
		if !failing {
			f.cfg.Log.Warn("logstream: events stream ended; reconnecting", "project", f.cfg.Project, "err", err)
		} else {
			f.cfg.Log.Debug("logstream: still reconnecting", "project", f.cfg.Project, "err", err)
		}
		failing = true
		if !bo.sleep(ctx) {
			return nil
		}
	}
}

// watch subscribes to events, lists the project and drains events into q
// until the subscription fails. It never blocks on anything but the
// daemon: the daemon drops events for subscribers that lag.
func (f *Follower) watch(ctx context.Context, q *queue, since *time.Time) error {
	// Subscribe before listing, so that no container can start unseen
	// between the two.
	evs, errs := f.cfg.Docker.ContainerEvents(ctx, f.cfg.Project, *since)
	list, err := f.cfg.Docker.ProjectContainers(ctx, f.cfg.Project)
	if err != nil {
		return err
	}
	q.push(task{list: list, isList: true})
	for {
		select {
		case ev := <-evs:
			if ev.Time.After(*since) {
				*since = ev.Time
			}
			q.push(task{ev: ev})
		case err := <-errs:
			if err == nil {
				err = errors.New("logstream: events channel closed")
			}
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// work handles events and listings in order, off the draining goroutine.
func (f *Follower) work(ctx context.Context, q *queue) {
	for {
		t, ok := q.pop(ctx)
		if !ok {
			return
		}
		if t.isList {
			for _, c := range t.list {
				f.state(StateChange{ID: c.ID, Name: c.Name, Service: c.Service, Action: "list", State: c.State})
				if c.Running {
					f.ensure(ctx, c.ID, false)
				}
			}
			continue
		}
		ev := t.ev
		f.state(StateChange{ID: ev.ID, Name: ev.Name, Service: ev.Service, Action: ev.Action, ExitCode: ev.ExitCode, Time: ev.Time})
		switch ev.Action {
		case "start":
			f.ensure(ctx, ev.ID, true)
		case "destroy":
			f.forget(ev.ID)
		}
	}
}

func (f *Follower) state(s StateChange) {
	if f.cfg.OnState != nil {
		f.cfg.OnState(s)
	}
}

// ensure makes sure a log goroutine runs for a container. started says the
// container just (re)started: a goroutine still reading the previous run
// must re-open once that stream ends, and a container that already exited
// again is still read once, so that a short-lived container's output is
// not lost.
func (f *Follower) ensure(ctx context.Context, id string, started bool) {
	f.mu.Lock()
	c := f.conts[id]
	if c != nil && c.active {
		c.restart = c.restart || started
		f.mu.Unlock()
		return
	}
	f.mu.Unlock()

	info, err := f.cfg.Docker.InspectContainer(ctx, id)
	if err != nil {
		if ctx.Err() == nil {
			f.cfg.Log.Warn("logstream: inspect", "id", id, "err", err)
		}
		return
	}
	if !info.Running && !started {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c == nil {
		c = &followed{id: id}
		if f.cfg.Resume != nil {
			c.pos, _ = f.cfg.Resume(id)
		}
		f.conts[id] = c
	}
	if c.active {
		c.restart = c.restart || started
		return
	}
	c.name, c.service, c.tty = info.Name, info.Service, info.Tty
	if c.name == "" {
		c.name = id
	}
	c.active, c.restart = true, false
	f.wg.Go(func() { f.follow(ctx, c) })
}

// follow reads one container's logs for as long as it runs, re-opening the
// stream after a restart or a broken connection.
func (f *Follower) follow(ctx context.Context, c *followed) {
	bo := f.newBackoff()
	drained := false
	for {
		n, err := f.stream(ctx, c)
		if ctx.Err() != nil {
			f.setInactive(c)
			return
		}
		if err != nil {
			f.cfg.Log.Warn("logstream: log stream", "container", c.name, "err", err)
		}
		if n > 0 {
			bo.reset()
		}
		if f.takeRestart(c) {
			drained = false
			continue
		}
		info, ierr := f.cfg.Docker.InspectContainer(ctx, c.id)
		f.mu.Lock()
		if c.restart {
			c.restart, drained = false, false
			f.mu.Unlock()
			continue
		}
		if ierr == nil && !info.Running && !drained {
			// The daemon may end a follow as the container stops, before
			// the copier has stored the last (often partial) line. One more
			// read of a stopped container returns the stored logs and ends.
			drained = true
			f.mu.Unlock()
			continue
		}
		if ierr != nil || !info.Running {
			// Stopped, removed, or the daemon is gone; a start event or
			// the re-listing after reconnect brings us back.
			c.active = false
			f.mu.Unlock()
			return
		}
		drained = false
		f.mu.Unlock()
		// Running but the stream ended: a restart whose start event is on
		// its way, or a dropped connection.
		if !bo.sleep(ctx) {
			f.setInactive(c)
			return
		}
	}
}

// forget drops the state of a removed container, unless its goroutine is
// still finishing, so that the map does not grow with every container ever
// created.
func (f *Follower) forget(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.conts[id]; c != nil && !c.active {
		delete(f.conts, id)
	}
}

func (f *Follower) takeRestart(c *followed) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := c.restart
	c.restart = false
	return r
}

func (f *Follower) setInactive(c *followed) {
	f.mu.Lock()
	c.active = false
	f.mu.Unlock()
}

// stream opens the container's log stream once and copies it to the hub
// until it ends. It returns the number of lines delivered.
func (f *Follower) stream(ctx context.Context, c *followed) (int, error) {
	rep := newReplay(c.pos)
	rc, err := f.cfg.Docker.FollowLogs(ctx, c.id, c.pos.Since())
	if err != nil {
		return 0, err
	}
	f.streams.Add(1)
	f.opened.Add(1)
	defer func() {
		rc.Close()
		f.streams.Add(-1)
	}()
	// Lines are stored as they are decoded and announced to the hub's
	// readers once per read, when the decoder has taken all it had.
	hub := f.cfg.Hub
	dec := NewDecoder(newBatchReader(rc, hub.Wake), c.tty, true)
	masker := f.masker.Load()
	n := 0
	for {
		rec, err := dec.Next()
		if err != nil {
			hub.Wake()
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return n, err
		}
		if rep.skip(rec.Stream, rec.TS) {
			continue
		}
		l := Line{
			Container: c.name, Service: c.service, Stream: rec.Stream, TS: rec.TS,
			Text: string(masker.Mask(rec.Text)), Truncated: rec.Truncated,
		}
		hub.Store(l)
		if f.cfg.Sink != nil {
			f.cfg.Sink(c.id, l, masker)
		}
		c.pos.Advance(rec.Stream, rec.TS)
		n++
	}
}

// backoff is an exponential delay with jitter.
type backoff struct {
	min, max, cur time.Duration
}

func (f *Follower) newBackoff() *backoff {
	return &backoff{min: f.cfg.MinBackoff, max: f.cfg.MaxBackoff, cur: f.cfg.MinBackoff}
}

func (b *backoff) reset() { b.cur = b.min }

// sleep waits the current delay, ±20 %, then doubles it; it reports false if
// ctx ended first.
func (b *backoff) sleep(ctx context.Context) bool {
	d := time.Duration(float64(b.cur) * (0.8 + 0.4*rand.Float64()))
	b.cur = min(2*b.cur, b.max)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// task is a unit of work for the follower's worker.
type task struct {
	ev     engine.ContainerEvent
	list   []engine.ContainerInfo
	isList bool
}

// queue is an unbounded FIFO, so that the events drainer never waits for
// the worker. Events are few; a listing is one entry.
type queue struct {
	mu     sync.Mutex
	items  []task
	signal chan struct{}
}

func newQueue() *queue { return &queue{signal: make(chan struct{}, 1)} }

func (q *queue) push(t task) {
	q.mu.Lock()
	q.items = append(q.items, t)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *queue) pop(ctx context.Context) (task, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			t := q.items[0]
			q.items[0] = task{}
			q.items = q.items[1:]
			q.mu.Unlock()
			return t, true
		}
		q.mu.Unlock()
		select {
		case <-q.signal:
		case <-ctx.Done():
			return task{}, false
		}
	}
}
