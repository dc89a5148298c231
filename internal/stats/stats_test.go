package stats

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/engine"
)

// fakeSource is a scripted engine for the bookkeeping: which containers
// run and what each reports next.
type fakeSource struct {
	mu         sync.Mutex
	containers []engine.ContainerInfo
	stats      map[string]engine.Stats
	fail       map[string]bool
}

func (f *fakeSource) ProjectContainers(context.Context, string) ([]engine.ContainerInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]engine.ContainerInfo(nil), f.containers...), nil
}

func (f *fakeSource) ContainerStats(_ context.Context, id string) (engine.Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail[id] {
		return engine.Stats{}, errors.New("no such container")
	}
	return f.stats[id], nil
}

// clock is a settable time.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestSeriesAcrossGenerationsAndReplicas(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clk := &clock{t0}
	src := &fakeSource{stats: map[string]engine.Stats{}, fail: map[string]bool{}}
	run := func(id, svc string) engine.ContainerInfo {
		return engine.ContainerInfo{ID: id, Name: id, Service: svc, Running: true}
	}
	// at sets a container's counters at clock time plus d: CPU in ms of
	// CPU time, system CPU as 2 CPUs fully counted.
	set := func(id string, d time.Duration, cpuMs uint64, mem uint64) {
		src.stats[id] = engine.Stats{Read: t0.Add(d), CPUTotal: cpuMs * 1e6, SystemCPU: uint64(2 * (time.Hour + d).Nanoseconds()), OnlineCPUs: 2, MemoryUsed: mem, MemoryLimit: 1 << 30}
	}
	s := New(src, "p", Options{Interval: 10 * time.Second, Window: time.Minute, Now: clk.now})

	// Round 1: api-1 and two replicas of worker; no CPU yet.
	src.containers = []engine.ContainerInfo{run("api-1", "api"), run("w-1", "worker"), run("w-2", "worker"), {ID: "m", Service: "migrations"}}
	set("api-1", 0, 1000, 100)
	set("w-1", 0, 0, 10)
	set("w-2", 0, 0, 20)
	if err := s.Sample(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Round 2, 10 s later: api used 5 s of CPU (50 %), each worker 1 s.
	clk.t = t0.Add(10 * time.Second)
	set("api-1", 10*time.Second, 6000, 120)
	set("w-1", 10*time.Second, 1000, 10)
	set("w-2", 10*time.Second, 1000, 20)
	s.Sample(context.Background())
	// Round 3: api recreated as api-2 (a new generation); w-2's request fails.
	clk.t = t0.Add(20 * time.Second)
	src.containers = []engine.ContainerInfo{run("api-2", "api"), run("w-1", "worker"), run("w-2", "worker")}
	set("api-2", 20*time.Second, 10, 50)
	set("w-1", 20*time.Second, 2000, 10)
	src.fail["w-2"] = true
	if err := s.Sample(context.Background()); err == nil || s.Err() == nil {
		t.Error("a failed stats request is not reported")
	}

	api := s.Series("api").Points
	if len(api) != 3 || api[0].HasCPU || !api[1].HasCPU || api[1].CPUPercent != 50 || api[2].HasCPU || api[2].MemoryBytes != 50 {
		t.Fatalf("api series across generations: %+v", api)
	}
	w := s.Series("worker").Points
	if len(w) != 3 || w[1].CPUPercent != 20 || w[1].MemoryBytes != 30 || w[1].Containers != 2 || w[2].Containers != 1 || w[2].CPUPercent != 10 {
		t.Fatalf("worker series (two replicas, then one answered): %+v", w)
	}
	if got := s.Series("migrations").Points; len(got) != 0 {
		t.Errorf("a stopped service has points: %+v", got)
	}
	all := s.All()
	if len(all) != 2 || all[0].Service != "api" || all[1].Service != "worker" {
		t.Errorf("All = %+v", all)
	}

	// Ten minutes of rounds with the workers stopped: only the window's
	// worth is kept and returned.
	src.containers = src.containers[:1]
	for i := 3; i < 60; i++ {
		clk.t = t0.Add(time.Duration(i) * 10 * time.Second)
		set("api-2", time.Duration(i)*10*time.Second, uint64(i)*100, 50)
		s.Sample(context.Background())
	}
	api = s.Series("api").Points
	if len(api) != 7 || api[0].At.Before(clk.t.Add(-time.Minute)) || !api[6].At.Equal(clk.t) {
		t.Errorf("window: %d points from %v to %v", len(api), api[0].At, api[len(api)-1].At)
	}
	if n := len(s.rings["api"].buf); n > 8 {
		t.Errorf("ring holds %d points for a 6-point window", n)
	}
	// The workers stopped: their series ages out.
	if got := s.Series("worker").Points; len(got) != 0 {
		t.Errorf("worker points outside the window: %+v", got)
	}
}

func TestCPUPercent(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	a := engine.Stats{Read: t0, CPUTotal: 1e9, SystemCPU: 100e9, OnlineCPUs: 2}
	b := engine.Stats{Read: t0.Add(time.Second), CPUTotal: 2e9, SystemCPU: 102e9, OnlineCPUs: 2}
	if got, ok := cpuPercent(a, b); !ok || got != 100 {
		t.Errorf("one CPU busy = %v, %v; want 100", got, ok)
	}
	noSys := b
	noSys.SystemCPU = 0
	if got, ok := cpuPercent(a, noSys); !ok || got != 100 {
		t.Errorf("from wall time = %v, %v; want 100", got, ok)
	}
	if _, ok := cpuPercent(b, a); ok {
		t.Error("a counter that went back gave a value")
	}
}
