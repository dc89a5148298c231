package logstream

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carto-setup/carto-setup/internal/engine"
)

// ProjectService is the service name under which markers of the whole
// project (an install or an upgrade started) are kept and shown.
const ProjectService = "carto-setup"

// The kinds of marker (Line.Marker).
const (
	MarkRecreated = "recreated" // a new container replaced the service's previous one
	MarkImage     = "image"     // ... and it runs another image
	MarkRestarted = "restarted" // the same container started again
	MarkExited    = "exited"    // the container exited with code 0
	MarkFailed    = "failed"    // the container exited with another code
	MarkInstall   = "install"   // an install began (Mark)
	MarkUpgrade   = "upgrade"   // an upgrade began (Mark)
)

// ProjectDocker is what a ProjectFollower needs from the Docker Engine: a
// Follower's Docker, and the generation of a container. *engine.Client
// implements it.
type ProjectDocker interface {
	Docker
	ContainerGeneration(ctx context.Context, id string) (engine.ContainerGeneration, error)
}

// Generation is the container a replica of a service last ran, remembered
// across restarts of the wizard so that a recreation or a restart that
// happened meanwhile is still marked.
type Generation struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Image     string    `json:"image"`
	ImageID   string    `json:"image_id"`
	Created   time.Time `json:"created"`
	StartedAt time.Time `json:"started_at"`
}

// History keeps a project's lines and markers across container
// generations and restarts of the wizard; *logstore.Store implements it.
// Its methods are called from the follower's goroutines and must not block
// for long.
type History interface {
	// Append keeps a line of the container with the given ID, or a
	// marker (id may then be empty). masked is the masker the text went
	// through already (nil: none); a history that masks with another one
	// masks again.
	Append(id string, l Line, masked *Masker)
	// Position says how far a container's log is kept.
	Position(id string) (Position, bool)
	// Generation and SetGeneration remember the container a replica
	// (Compose container number) of a service last ran.
	Generation(service string, number int) (Generation, bool)
	SetGeneration(service string, number int, g Generation)
}

// ProjectConfig holds what a ProjectFollower works with.
type ProjectConfig struct {
	Project string        // Compose project name
	Docker  ProjectDocker // the engine
	Hub     *Hub          // the live view; nil means a new hub with default bounds
	// History keeps what the hub cannot: nil keeps nothing on disk (the
	// markers still go to the hub).
	History History
	Masker  *Masker // applied to every line and marker; may be nil
	// Backfill bounds how far back the logs of a container the history
	// has never seen are read when the follower starts: 0 reads all the
	// daemon still has. Containers the history knows resume from their
	// position, however old.
	Backfill time.Duration
	Now      func() time.Time // nil means time.Now
	Log      *slog.Logger     // nil discards
	// MinBackoff and MaxBackoff are the Follower's.
	MinBackoff, MaxBackoff time.Duration
}

// ProjectFollower follows every service of a Compose project for as long
// as the wizard runs, whatever job runs or not: one daemon stream per
// container into one Hub, every line also kept in a History, and markers
// where a service's container was recreated, restarted, changed image or
// exited, and where an install or upgrade began. Containers are followed
// by service: a recreated container is a new generation of the same
// service, found by its Compose service and replica number.
type ProjectFollower struct {
	cfg     ProjectConfig
	f       *Follower
	hub     *Hub
	history History
	masker  atomic.Pointer[Masker]
	ctx     atomic.Pointer[context.Context]
	// tees are the hubs that get a copy of every line and marker (Tee);
	// read on every line, so swapped whole rather than locked.
	tees   atomic.Pointer[[]*Hub]
	teesMu sync.Mutex

	mu       sync.Mutex
	watchers map[int]func(StateChange)
	nextW    int
	known    map[string]StateChange // last state of each container, by ID
	diedAt   map[string]time.Time   // last die event of each container, by ID
}

// NewProjectFollower returns a project follower; Run starts it.
func NewProjectFollower(cfg ProjectConfig) *ProjectFollower {
	if cfg.Hub == nil {
		cfg.Hub = NewHub(HubConfig{})
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	p := &ProjectFollower{
		cfg: cfg, hub: cfg.Hub, history: cfg.History,
		watchers: map[int]func(StateChange){}, known: map[string]StateChange{}, diedAt: map[string]time.Time{},
	}
	if p.history == nil {
		p.history = &memHistory{gens: map[string]Generation{}}
	}
	p.masker.Store(cfg.Masker)
	p.f = NewFollower(FollowerConfig{
		Project: cfg.Project, Docker: cfg.Docker, Hub: cfg.Hub, Masker: cfg.Masker,
		OnState: p.onState, Sink: p.sink, Resume: p.resume, Log: cfg.Log,
		MinBackoff: cfg.MinBackoff, MaxBackoff: cfg.MaxBackoff,
	})
	return p
}

// Hub returns the live view every reader subscribes to.
func (p *ProjectFollower) Hub() *Hub { return p.hub }

// Streams returns the number of daemon log streams open right now.
func (p *ProjectFollower) Streams() int { return p.f.Streams() }

// Opened returns how many daemon log streams have been opened in total.
func (p *ProjectFollower) Opened() int { return p.f.Opened() }

// SetMasker replaces the masker for the lines and markers from now on, in
// the follower and, if it has a SetMasker method, in the history.
func (p *ProjectFollower) SetMasker(m *Masker) {
	p.masker.Store(m)
	p.f.SetMasker(m)
	if h, ok := p.history.(interface{ SetMasker(*Masker) }); ok {
		h.SetMasker(m)
	}
}

// Run follows the project until ctx is cancelled; see Follower.Run.
func (p *ProjectFollower) Run(ctx context.Context) error {
	p.ctx.Store(&ctx)
	return p.f.Run(ctx)
}

// Mark adds a marker of the whole project, shown in every service's
// timeline: MarkInstall or MarkUpgrade with a text such as "upgrade to
// 2025.10.2 started". The text is masked like every line.
func (p *ProjectFollower) Mark(kind, text string) {
	p.mark("", Line{Container: ProjectService, Service: ProjectService, TS: p.cfg.Now(), Marker: kind, Text: text})
}

// Tee copies every line and marker stored from now on into h as well,
// until the returned function is called: an install's own log view gets
// the containers' lines without a daemon stream of its own. The copy
// shares the lines' text; h numbers them in its own sequence.
func (p *ProjectFollower) Tee(h *Hub) (stop func()) {
	p.setTees(func(hs []*Hub) []*Hub { return append(hs, h) })
	var once sync.Once
	return func() {
		once.Do(func() {
			p.setTees(func(hs []*Hub) []*Hub {
				i := slices.Index(hs, h)
				if i < 0 {
					return hs
				}
				return slices.Delete(hs, i, i+1)
			})
		})
	}
}

// setTees replaces the tee list by a changed copy of it.
func (p *ProjectFollower) setTees(change func([]*Hub) []*Hub) {
	p.teesMu.Lock()
	defer p.teesMu.Unlock()
	var cur []*Hub
	if t := p.tees.Load(); t != nil {
		cur = slices.Clone(*t)
	}
	next := change(cur)
	p.tees.Store(&next)
}

// sink receives every container line after the hub has it: the history
// keeps it and the tees get a copy.
func (p *ProjectFollower) sink(id string, l Line, masked *Masker) {
	p.history.Append(id, l, masked)
	p.tee(l)
}

func (p *ProjectFollower) tee(l Line) {
	if t := p.tees.Load(); t != nil {
		for _, h := range *t {
			h.Append(l)
		}
	}
}

// Watch calls fn with every container event and listing from now on, so
// that a status board (an install's) can follow the project without a
// daemon stream of its own. It first replays the last known state of each
// container as a "list" change. fn runs on the follower's goroutine, under
// a lock: it must return quickly and must not call Watch. The returned
// function stops the calls.
func (p *ProjectFollower) Watch(fn func(StateChange)) (stop func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := p.nextW
	p.nextW++
	p.watchers[id] = fn
	for _, s := range p.known {
		fn(s)
	}
	return func() {
		p.mu.Lock()
		delete(p.watchers, id)
		p.mu.Unlock()
	}
}

// resume says where a container's first stream starts: where the history
// has it, or Backfill ago for a container it never saw.
func (p *ProjectFollower) resume(id string) (Position, bool) {
	if pos, ok := p.history.Position(id); ok {
		return pos, true
	}
	if p.cfg.Backfill <= 0 {
		return Position{}, false
	}
	from := p.cfg.Now().Add(-p.cfg.Backfill)
	var pos Position
	pos[Stdout].TS, pos[Stderr].TS = from, from
	return pos, true
}

func (p *ProjectFollower) mark(id string, l Line) {
	m := p.masker.Load()
	l.Stream = Marker
	l.Text = m.MaskString(l.Text)
	p.hub.Append(l)
	p.history.Append(id, l, m)
	p.tee(l)
}

// onState runs on the follower's worker goroutine, before the follower
// opens a started container's stream, so a marker precedes the lines it
// marks.
func (p *ProjectFollower) onState(s StateChange) {
	switch s.Action {
	case "create", "start", "list":
		p.checkGeneration(s)
	case "die":
		p.mu.Lock()
		p.diedAt[s.ID] = s.Time
		p.mu.Unlock()
		kind, what := MarkExited, "exited with code 0"
		if s.ExitCode != 0 {
			kind, what = MarkFailed, fmt.Sprintf("exited with code %d", s.ExitCode)
		}
		p.mark(s.ID, Line{Container: s.Name, Service: s.Service, TS: s.Time, Marker: kind, Text: s.Name + " " + what})
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	p.remember(s)
	for _, fn := range p.watchers {
		fn(s)
	}
}

// remember keeps the last state of each container for Watch's replay.
func (p *ProjectFollower) remember(s StateChange) {
	if s.Action == "destroy" {
		delete(p.known, s.ID)
		delete(p.diedAt, s.ID)
		return
	}
	k, ok := p.known[s.ID]
	if !ok {
		k = StateChange{ID: s.ID, Action: "list"}
	}
	if s.Name != "" {
		k.Name = s.Name
	}
	if s.Service != "" {
		k.Service = s.Service
	}
	switch s.Action {
	case "list":
		k.State = s.State
	case "create":
		k.State = "created"
	case "start", "restart", "unpause":
		k.State = "running"
	case "die":
		k.State, k.ExitCode = "exited", s.ExitCode
	case "pause":
		k.State = "paused"
	default:
		if !ok {
			return
		}
	}
	p.known[s.ID] = k
}

// checkGeneration compares a container with the one its service replica
// last ran and marks what changed.
func (p *ProjectFollower) checkGeneration(s StateChange) {
	ctxp := p.ctx.Load()
	if ctxp == nil {
		return
	}
	ctx := *ctxp
	g, err := p.cfg.Docker.ContainerGeneration(ctx, s.ID)
	if err != nil {
		if ctx.Err() == nil {
			p.cfg.Log.Warn("logstream: inspect for generation", "id", s.ID, "err", err)
		}
		return
	}
	if g.Service == "" || g.OneOff {
		return
	}
	cur := Generation{ID: g.ID, Name: g.Name, Image: g.Image, ImageID: g.ImageID, Created: g.Created, StartedAt: g.StartedAt}
	prev, ok := p.history.Generation(g.Service, g.Number)
	switch {
	case !ok:
	case prev.ID != g.ID:
		if !g.Created.After(prev.Created) {
			return // an older container, such as the one a recreation renames away
		}
		p.mark(g.ID, Line{Container: g.Name, Service: g.Service, TS: g.Created, Marker: MarkRecreated,
			Text: fmt.Sprintf("%s recreated: container %s replaces %s", g.Name, short(g.ID), short(prev.ID))})
		if prev.ImageID != g.ImageID {
			p.mark(g.ID, Line{Container: g.Name, Service: g.Service, TS: g.Created, Marker: MarkImage,
				Text: fmt.Sprintf("%s image changed: %s (%s) -> %s (%s)", g.Name, prev.Image, short(prev.ImageID), g.Image, short(g.ImageID))})
		}
	case g.StartedAt.After(prev.StartedAt):
		if !prev.StartedAt.IsZero() {
			p.mark(g.ID, Line{Container: g.Name, Service: g.Service, TS: p.restartTime(g), Marker: MarkRestarted,
				Text: g.Name + " restarted"})
		}
	default:
		return
	}
	p.history.SetGeneration(g.Service, g.Number, cur)
}

// restartTime places a restart marker between the previous run's last
// line and the new run's first: just after the exit (the daemon's
// timestamps of the new run may precede its StartedAt).
func (p *ProjectFollower) restartTime(g engine.ContainerGeneration) time.Time {
	p.mu.Lock()
	died := p.diedAt[g.ID]
	p.mu.Unlock()
	t := g.FinishedAt
	if died.After(t) {
		t = died
	}
	if t.IsZero() || !t.Before(g.StartedAt) {
		return g.StartedAt
	}
	return t.Add(time.Nanosecond)
}

// short abbreviates a container or image ID as docker ps does.
func short(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// memHistory remembers generations for a follower without a store, so that
// its markers still work while it runs.
type memHistory struct {
	mu   sync.Mutex
	gens map[string]Generation
}

func (m *memHistory) Append(string, Line, *Masker)     {}
func (m *memHistory) Position(string) (Position, bool) { return Position{}, false }
func (m *memHistory) key(service string, number int) string {
	return fmt.Sprintf("%s#%d", service, number)
}

func (m *memHistory) Generation(service string, number int) (Generation, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g, ok := m.gens[m.key(service, number)]
	return g, ok
}

func (m *memHistory) SetGeneration(service string, number int, g Generation) {
	m.mu.Lock()
	m.gens[m.key(service, number)] = g
	m.mu.Unlock()
}
