package stats

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

// Source is the part of the engine client the sampler reads;
// *engine.Client satisfies it.
type Source interface {
	ProjectContainers(ctx context.Context, project string) ([]engine.ContainerInfo, error)
	ContainerStats(ctx context.Context, id string) (engine.Stats, error)
}

// Defaults of Options.
const (
	DefaultInterval = 10 * time.Second
	DefaultWindow   = time.Hour
	defaultParallel = 4
)

// Options shape a Sampler; the zero value samples every 10 seconds and
// keeps an hour.
type Options struct {
	Interval time.Duration
	Window   time.Duration
	// Parallel bounds the stats requests in flight; 0 means 4.
	Parallel int
	// Now is the clock points are stamped with; nil means time.Now.
	Now func() time.Time
}

// Point is one sample of a service: the sums over its running containers.
type Point struct {
	At time.Time `json:"at"`
	// CPUPercent is in percent of one CPU, as docker stats shows it: 200
	// is two CPUs busy. HasCPU is false when no container of the service
	// had an earlier sample to measure against (the first sample after a
	// start), and CPUPercent is then 0.
	CPUPercent  float64 `json:"cpu_percent"`
	HasCPU      bool    `json:"has_cpu"`
	MemoryBytes uint64  `json:"memory_bytes"`
	// MemoryLimit is the smallest limit among the containers, which is
	// the host's memory when none is set.
	MemoryLimit uint64 `json:"memory_limit"`
	Containers  int    `json:"containers"`
}

// Series is a service's points, oldest first, within the window.
type Series struct {
	Service string  `json:"service"`
	Points  []Point `json:"points"`
}

// Sampler keeps the series of one Compose project.
type Sampler struct {
	src     Source
	project string
	opts    Options

	mu      sync.Mutex
	rings   map[string]*ring
	prev    map[string]engine.Stats // by container ID
	lastErr error
}

// New returns a sampler of project's containers; nothing is sampled until
// Run or Sample.
func New(src Source, project string, opts Options) *Sampler {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.Parallel <= 0 {
		opts.Parallel = defaultParallel
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Sampler{src: src, project: project, opts: opts, rings: map[string]*ring{}, prev: map[string]engine.Stats{}}
}

// Run samples at once and then every Interval until ctx ends, and returns
// ctx's error. A round that fails (the engine is away) is kept as Err and
// the next round tries again.
func (s *Sampler) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		s.Sample(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Err is the error of the last round, or nil when it sampled every
// running container.
func (s *Sampler) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// Sample takes one round: a one-shot stats request per running container
// of the project, summed per service into one point each.
func (s *Sampler) Sample(ctx context.Context) error {
	err := s.sample(ctx)
	s.mu.Lock()
	s.lastErr = err
	s.mu.Unlock()
	return err
}

type reading struct {
	c   engine.ContainerInfo
	st  engine.Stats
	err error
}

func (s *Sampler) sample(ctx context.Context) error {
	list, err := s.src.ProjectContainers(ctx, s.project)
	if err != nil {
		return fmt.Errorf("stats: list the containers of %s: %w", s.project, err)
	}
	var running []engine.ContainerInfo
	for _, c := range list {
		if c.Running && c.Service != "" {
			running = append(running, c)
		}
	}
	readings := make([]reading, len(running))
	sem := make(chan struct{}, s.opts.Parallel)
	var wg sync.WaitGroup
	for i, c := range running {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			st, err := s.src.ContainerStats(ctx, c.ID)
			readings[i] = reading{c: c, st: st, err: err}
		})
	}
	wg.Wait()

	now := s.opts.Now()
	points := map[string]*Point{}
	var failed []string
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	for _, r := range readings {
		if r.err != nil || r.st.Read.IsZero() {
			// Stopped between the listing and the request, or the
			// request failed: no value is better than a wrong one.
			if r.err != nil {
				failed = append(failed, r.c.Name)
			}
			continue
		}
		seen[r.c.ID] = true
		p := points[r.c.Service]
		if p == nil {
			p = &Point{At: now}
			points[r.c.Service] = p
		}
		p.Containers++
		p.MemoryBytes += r.st.MemoryUsed
		if r.st.MemoryLimit > 0 && (p.MemoryLimit == 0 || r.st.MemoryLimit < p.MemoryLimit) {
			p.MemoryLimit = r.st.MemoryLimit
		}
		if prev, ok := s.prev[r.c.ID]; ok {
			if pct, ok := cpuPercent(prev, r.st); ok {
				p.CPUPercent += pct
				p.HasCPU = true
			}
		}
		s.prev[r.c.ID] = r.st
	}
	for id := range s.prev {
		if !seen[id] {
			delete(s.prev, id) // gone or stopped: a later start begins afresh
		}
	}
	for svc, p := range points {
		rg := s.rings[svc]
		if rg == nil {
			rg = newRing(int(s.opts.Window/s.opts.Interval) + 2)
			s.rings[svc] = rg
		}
		rg.push(*p)
	}
	if len(failed) > 0 {
		slices.Sort(failed)
		return errors.New("stats: no sample of " + strings.Join(failed, ", "))
	}
	return nil
}

// cpuPercent is the CPU the container used between two samples, in
// percent of one CPU, as docker stats computes it from the host's CPU
// time; from wall time when the host's is missing. A counter that went
// back (the container restarted) gives no value.
func cpuPercent(prev, cur engine.Stats) (float64, bool) {
	if cur.CPUTotal < prev.CPUTotal || !cur.Read.After(prev.Read) {
		return 0, false
	}
	used := float64(cur.CPUTotal - prev.CPUTotal)
	if cur.SystemCPU > prev.SystemCPU && cur.OnlineCPUs > 0 {
		return used / float64(cur.SystemCPU-prev.SystemCPU) * float64(cur.OnlineCPUs) * 100, true
	}
	return used / float64(cur.Read.Sub(prev.Read).Nanoseconds()) * 100, true
}

// Series returns a service's points within the window, oldest first.
func (s *Sampler) Series(service string) Series {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Series{Service: service}
	if rg := s.rings[service]; rg != nil {
		out.Points = rg.since(s.opts.Now().Add(-s.opts.Window))
	}
	return out
}

// All returns every service with points within the window, by name.
func (s *Sampler) All() []Series {
	s.mu.Lock()
	names := make([]string, 0, len(s.rings))
	for name := range s.rings {
		names = append(names, name)
	}
	s.mu.Unlock()
	slices.Sort(names)
	var out []Series
	for _, name := range names {
		if sr := s.Series(name); len(sr.Points) > 0 {
			out = append(out, sr)
		}
	}
	return out
}

// ring is a fixed-size buffer of points; the oldest is overwritten.
type ring struct {
	buf  []Point
	next int
	full bool
}

func newRing(n int) *ring { return &ring{buf: make([]Point, n)} }

func (r *ring) push(p Point) {
	r.buf[r.next] = p
	r.next = (r.next + 1) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
}

// since returns a copy of the points at or after t, oldest first.
func (r *ring) since(t time.Time) []Point {
	var out []Point
	start, n := 0, r.next
	if r.full {
		start, n = r.next, len(r.buf)
	}
	for i := range n {
		p := r.buf[(start+i)%len(r.buf)]
		if !p.At.Before(t) {
			out = append(out, p)
		}
	}
	return out
}
