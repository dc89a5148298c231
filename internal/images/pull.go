package images

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/carto-setup/carto-setup/internal/engine"
)

// Engine is the part of the Docker Engine the pull phase uses;
// *engine.Client satisfies it.
type Engine interface {
	InspectImage(ctx context.Context, ref string) (engine.ImageInfo, error)
	PullImage(ctx context.Context, ref string, auth *engine.RegistryAuth, onEvent func(engine.PullEvent)) error
	Info(ctx context.Context) (engine.Info, error)
}

// Config tunes a pull phase. The zero value works.
type Config struct {
	// Remote supplies the credentials (its Keychain), the manifests that
	// seed layer sizes, and the probe that tells an unreachable registry
	// from a slow one. Nil means Docker's credentials and, like every
	// Remote whose Insecure is nil, the engine's plain-HTTP rule.
	Remote *Remote
	// Concurrency is how many images are pulled at once; 0 means 2. The
	// daemon downloads at most 3 layers at a time across all pulls, so
	// more buys little, and finishing images one after another keeps more
	// of them if the phase is interrupted.
	Concurrency int
	// Stall is how long the phase waits with no byte moving in any pull
	// before it stops them and names the cause; 0 means 2 minutes (the
	// daemon's own retries of a broken download take about 75 seconds).
	Stall time.Duration
	// Interval is how often a pulling image's progress is reported; 0
	// means 500 ms. Status changes are reported at once.
	Interval time.Duration
	// OnProgress receives every report, from one goroutine at a time; it
	// must not block.
	OnProgress func(Progress)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Error is a pull phase that did not get every image. Failures names each
// image that failed, with the fix; images not attempted after a failure
// that would fail them too are in Skipped.
type Error struct {
	Failures []Failure
	Skipped  []string
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Failures))
	for i, f := range e.Failures {
		parts[i] = f.Image + " (" + string(f.Kind) + ")"
	}
	s := fmt.Sprintf("images: %d image(s) could not be pulled: %s", len(e.Failures), strings.Join(parts, ", "))
	if len(e.Skipped) > 0 {
		s += fmt.Sprintf("; %d not attempted", len(e.Skipped))
	}
	return s
}

// fatal kinds stop the phase from starting further pulls: they would fail
// the same way.
func fatal(k Kind) bool {
	return k == Unreachable || k == DiskFull || k == Cancelled || k == Stalled || k == TLS
}

// phase is one run of Pull.
type phase struct {
	eng    Engine
	cfg    Config
	remote *Remote
	info   engine.Info

	mu       sync.Mutex
	trackers map[string]*tracker
	running  map[string]*run
	aborted  bool
	started  time.Time
}

// run is one image being pulled.
type run struct {
	cancel  context.CancelFunc
	stalled bool
}

// Pull makes every image of refs present on the engine: images it already
// has are reported Present and left alone; the others are pulled through
// the Engine API, with progress reported to cfg.OnProgress. It returns the
// final progress of every image, in the order of refs, and an *Error
// naming every failed image when some could not be pulled. Cancelling ctx
// stops the pulls; images completed so far stay, so the next Pull only
// fetches the rest. (Docker 20.10 discards the layers of an image whose
// pull did not finish, so an interrupted image starts over.)
func Pull(ctx context.Context, eng Engine, refs []string, cfg Config) ([]Progress, error) {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 2
	}
	if cfg.Stall <= 0 {
		cfg.Stall = 2 * time.Minute
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 500 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OnProgress == nil {
		cfg.OnProgress = func(Progress) {}
	}
	info, err := eng.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("images: pull: %w", err)
	}
	r := Remote{}
	if cfg.Remote != nil {
		r = *cfg.Remote
	}
	if r.Insecure == nil {
		r.Insecure = DockerInsecure(info, nil)
	}
	p := &phase{eng: eng, cfg: cfg, remote: &r, info: info,
		trackers: map[string]*tracker{}, running: map[string]*run{}, started: cfg.Now()}

	var unique []string
	for _, ref := range refs {
		if !slices.Contains(unique, ref) {
			unique = append(unique, ref)
		}
	}
	var queue []string
	for _, ref := range unique {
		tr := newTracker(ref, nil, cfg.Now())
		p.trackers[ref] = tr
		_, err := eng.InspectImage(ctx, ref)
		switch {
		case err == nil:
			tr.p.Status = Present
		case errors.Is(err, engine.ErrImageNotFound):
			queue = append(queue, ref)
		default:
			return nil, fmt.Errorf("images: pull: %w", err)
		}
		p.emit(tr)
	}

	watchCtx, stopWatch := context.WithCancel(ctx)
	var watchers sync.WaitGroup
	watchers.Go(func() { p.watch(watchCtx) })

	jobs := make(chan string)
	var workers sync.WaitGroup
	for range min(cfg.Concurrency, max(len(queue), 1)) {
		workers.Go(func() {
			for ref := range jobs {
				p.pullOne(ctx, ref)
			}
		})
	}
	for _, ref := range queue {
		jobs <- ref
	}
	close(jobs)
	workers.Wait()
	stopWatch()
	watchers.Wait()

	out := make([]Progress, len(unique))
	var perr Error
	for i, ref := range unique {
		out[i] = p.trackers[ref].p
		switch out[i].Status {
		case Failed:
			perr.Failures = append(perr.Failures, *out[i].Failure)
		case Skipped:
			perr.Skipped = append(perr.Skipped, ref)
		}
	}
	if len(perr.Failures) > 0 || len(perr.Skipped) > 0 {
		return out, &perr
	}
	return out, nil
}

// emit reports tr's progress; the caller holds p.mu or owns tr alone.
func (p *phase) emit(tr *tracker) {
	p.cfg.OnProgress(tr.snapshot(p.cfg.Now()))
}

func (p *phase) pullOne(ctx context.Context, ref string) {
	p.mu.Lock()
	tr := p.trackers[ref]
	if p.aborted || ctx.Err() != nil {
		tr.p.Status = Skipped
		p.emit(tr)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()

	// Sizes from the manifest make the totals right from the start; a
	// registry that cannot tell leaves them to the daemon's messages.
	if m, err := p.remote.Manifest(ctx, ref); err == nil {
		p.mu.Lock()
		*tr = *newTracker(ref, m.ShortSizes(), p.cfg.Now())
		p.mu.Unlock()
	}
	auth, err := Credentials(ctx, p.remote.Keychain, ref)
	if err != nil {
		p.finish(tr, nil, &Failure{Image: ref, Kind: Denied, Message: "carto-setup could not read Docker's credentials for " + Registry(ref) + ".",
			Hint: "Check ~/.docker/config.json and its credential helper (docker login " + Registry(ref) + ").", Detail: err.Error()})
		return
	}

	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rn := &run{cancel: cancel}
	p.mu.Lock()
	p.running[ref] = rn
	tr.p.Status = Pulling
	tr.lastAdvance = p.cfg.Now()
	tr.recompute(p.cfg.Now())
	p.emit(tr)
	p.mu.Unlock()

	err = p.eng.PullImage(pctx, ref, auth, func(ev engine.PullEvent) {
		p.mu.Lock()
		defer p.mu.Unlock()
		before := tr.p
		tr.observe(ev, p.cfg.Now())
		if tr.p.LayersDone != before.LayersDone || tr.p.LayersTotal != before.LayersTotal || tr.p.Note != before.Note {
			p.emit(tr)
		}
	})

	p.mu.Lock()
	delete(p.running, ref)
	stalled := rn.stalled
	p.mu.Unlock()
	if err == nil {
		p.finish(tr, nil, nil)
		return
	}
	p.finish(tr, err, p.failure(ctx, ref, err, stalled))
}

// failure names why the pull of ref failed.
func (p *phase) failure(ctx context.Context, ref string, err error, stalled bool) *Failure {
	reg := Registry(ref)
	daemonProxy := DaemonProxy(p.info, reg, p.remote.insecure(reg))
	if ctx.Err() != nil {
		f := failureFor(ref, ctx.Err().Error(), Cancelled, daemonProxy, "")
		return &f
	}
	if stalled {
		detail := fmt.Sprintf("no byte moved for %s", p.cfg.Stall)
		kind := Stalled
		// Tell a registry that went away from a slow one.
		if _, perr := p.remote.Ping(ctx, reg); perr != nil {
			var re *RemoteError
			if errors.As(perr, &re) && re.Kind == Unreachable {
				kind = Unreachable
			}
			detail += "; the registry does not answer: " + perr.Error()
		}
		f := failureFor(ref, detail, kind, daemonProxy, p.info.DockerRootDir)
		return &f
	}
	var pe *engine.PullError
	msg := err.Error()
	if errors.As(err, &pe) {
		msg = pe.Message
	}
	f := failureFor(ref, msg, classify(msg), daemonProxy, p.info.DockerRootDir)
	return &f
}

func (p *phase) finish(tr *tracker, err error, f *Failure) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.cfg.Now()
	tr.recompute(now)
	if f == nil {
		tr.p.Status = Done
		tr.p.LayersDone = tr.p.LayersTotal
		tr.p.BytesDone = tr.p.BytesTotal
		tr.p.SecondsLeft = 0
		tr.p.Note = ""
	} else {
		tr.p.Status = Failed
		tr.p.Failure = f
		tr.p.SecondsLeft = -1
		tr.p.Rate = 0
		if fatal(f.Kind) {
			p.aborted = true
		}
	}
	p.emit(tr)
}

// watch reports the pulling images every Interval and stops every pull
// when no byte has moved in any of them for Stall.
func (p *phase) watch(ctx context.Context) {
	tick := time.NewTicker(p.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p.mu.Lock()
		now := p.cfg.Now()
		last := time.Time{}
		for ref := range p.running {
			tr := p.trackers[ref]
			if tr.lastAdvance.After(last) {
				last = tr.lastAdvance
			}
			p.emit(tr)
		}
		if len(p.running) > 0 && now.Sub(last) >= p.cfg.Stall {
			for _, rn := range p.running {
				rn.stalled = true
				rn.cancel()
			}
		}
		p.mu.Unlock()
	}
}
