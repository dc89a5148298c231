package stats

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

func suffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func needEngine(tb testing.TB, ctx context.Context) *engine.Client {
	tb.Helper()
	eng, err := engine.New(ctx)
	if err != nil {
		testenv.Missing(tb, "Docker Engine", "install Docker Engine 20.10+ and start it: "+err.Error())
	}
	tb.Cleanup(func() { eng.Close() })
	return eng
}

// loadImage builds a FROM-scratch image of the static statsload program.
func loadImage(tb testing.TB, ctx context.Context, eng *engine.Client) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "statsload")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "github.com/carto-setup/carto-setup/internal/stats/testdata/statsload")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("go build statsload: %v\n%s", err, out)
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		tb.Fatal(err)
	}
	tag := "carto-setup-statstest:" + suffix()
	tb.Cleanup(func() { eng.RemoveImage(context.Background(), tag) })
	if err := eng.BuildImage(ctx, tag, map[string]engine.BuildFile{"statsload": {Data: exe, Mode: 0o755}},
		"FROM scratch\nCOPY statsload /statsload\nUSER 65534:65534\nENTRYPOINT [\"/statsload\"]\n", nil); err != nil {
		tb.Fatal(err)
	}
	return tag
}

// starter starts containers labelled as services of a Compose project and
// removes them at the end.
func starter(tb testing.TB, ctx context.Context, eng *engine.Client, image, project string) func(service string, args ...string) string {
	return func(service string, args ...string) string {
		tb.Helper()
		id, err := eng.CreateContainer(ctx, engine.ContainerSpec{
			Name: project + "-" + service + "-" + suffix(), Image: image, Cmd: args,
			Labels: map[string]string{engine.LabelComposeProject: project, engine.LabelComposeService: service},
		})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { eng.RemoveContainer(context.Background(), id) })
		if err := eng.StartContainer(ctx, id); err != nil {
			tb.Fatal(err)
		}
		return id
	}
}

// procCPU is the CPU time a host process has used, from /proc.
func procCPU(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// containerPid is the host PID of a container's process.
func containerPid(tb testing.TB, id string) int {
	tb.Helper()
	out, err := exec.Command("docker", "inspect", "-f", "{{.State.Pid}}", id).Output()
	if err != nil {
		testenv.Missing(tb, "the docker CLI", "apt-get install docker.io")
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return pid
}

// TestSampleLive samples a container that keeps one CPU busy and holds
// 64 MB beside an idle one on the real engine, and holds the busy one's CPU
// to what the kernel says its process used over the same seconds (the
// machine is shared, so no fixed figure would do). Then it replaces the
// busy container (a new generation holding 8 MB): its service's series
// goes on, without a CPU value measured across the two containers.
func TestSampleLive(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	eng := needEngine(t, ctx)
	project := "statstest" + suffix()
	start := starter(t, ctx, eng, loadImage(t, ctx, eng), project)
	first := start("busy", "busy", "64")
	start("idle", "idle")

	s := New(eng, project, Options{Interval: time.Second})
	// round samples and returns the busy process's CPU percentage since
	// the previous round, measured from /proc right after each sample.
	var lastProc time.Duration
	var lastAt time.Time
	pid := containerPid(t, first)
	round := func() float64 {
		t.Helper()
		if err := s.Sample(ctx); err != nil {
			t.Fatal(err)
		}
		used, at := procCPU(t, pid), time.Now()
		pct := float64(used-lastProc) / float64(at.Sub(lastAt)) * 100
		lastProc, lastAt = used, at
		time.Sleep(2 * time.Second)
		return pct
	}
	var kernel float64
	for range 3 {
		kernel = round()
	}
	busy, idle := s.Series("busy").Points, s.Series("idle").Points
	if len(busy) != 3 || len(idle) != 3 {
		t.Fatalf("points: busy %d, idle %d; want 3 each", len(busy), len(idle))
	}
	b, i := busy[2], idle[2]
	t.Logf("busy: %.1f %% CPU (the kernel: %.1f %%), %d MB; idle: %.1f %% CPU, %d MB", b.CPUPercent, kernel, b.MemoryBytes>>20, i.CPUPercent, i.MemoryBytes>>20)
	if diff := b.CPUPercent - kernel; !b.HasCPU || diff > 5+kernel/4 || diff < -5-kernel/4 {
		t.Errorf("busy CPU %.1f %%, but its process used %.1f %%", b.CPUPercent, kernel)
	}
	if b.CPUPercent < 3 || !i.HasCPU || i.CPUPercent > 1 {
		t.Errorf("CPU: busy %.1f %%, idle %v %.1f %%", b.CPUPercent, i.HasCPU, i.CPUPercent)
	}
	if b.MemoryBytes < 60<<20 || i.MemoryBytes > 20<<20 || b.MemoryLimit == 0 {
		t.Errorf("memory: busy %d, idle %d, limit %d", b.MemoryBytes, i.MemoryBytes, b.MemoryLimit)
	}

	if err := eng.RemoveContainer(ctx, first); err != nil {
		t.Fatal(err)
	}
	pid = containerPid(t, start("busy", "busy", "8"))
	lastProc, lastAt = 0, time.Now()
	round()
	round()
	busy = s.Series("busy").Points
	if len(busy) != 5 || busy[3].HasCPU || !busy[4].HasCPU || busy[4].CPUPercent < 3 || busy[4].MemoryBytes >= 60<<20 {
		t.Errorf("after the new generation: %+v", busy[3:])
	}
}

// cpuTime is the CPU time used so far by dockerd and by this process.
func cpuTime(tb testing.TB, dockerd int) (daemon, self time.Duration) {
	tb.Helper()
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return procCPU(tb, dockerd), time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func pidOf(tb testing.TB, name string) int {
	tb.Helper()
	out, err := exec.Command("pgrep", "-o", "-x", name).Output()
	if err != nil {
		testenv.Missing(tb, "the "+name+" process (a local Docker Engine)", err.Error())
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return pid
}

// BenchmarkSamplingCost measures what sampling 16 containers for the
// charts costs the daemon and carto-setup, one-shot requests every 10 s
// (what Sampler does) against the stats stream of every container (one
// sample a second), over 20-second windows interleaved against drift,
// with as many windows of no sampling for the daemon's background. Run it
// with -benchtime=1x: each iteration takes two minutes. It reports the CPU
// milliseconds of the daemon in each kind of window and of this process,
// and the ratio of the latter. On a daemon shared with other work the
// daemon's figures differ by less than its background varies; the stream
// makes it collect ten times as many samples either way.
func BenchmarkSamplingCost(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	eng := needEngine(b, ctx)
	project := "statsbench" + suffix()
	start := starter(b, ctx, eng, loadImage(b, ctx, eng), project)
	var ids []string
	for i := range 16 {
		ids = append(ids, start(fmt.Sprintf("svc%02d", i), "idle"))
	}
	dockerd := pidOf(b, "dockerd")
	const window, interval = 20 * time.Second, 10 * time.Second

	measure := func(run func(ctx context.Context)) (daemon, self time.Duration) {
		d0, s0 := cpuTime(b, dockerd)
		wctx, cancel := context.WithTimeout(ctx, window)
		defer cancel()
		run(wctx)
		d1, s1 := cpuTime(b, dockerd)
		return d1 - d0, s1 - s0
	}
	oneShot := func(ctx context.Context) { New(eng, project, Options{Interval: interval}).Run(ctx) }
	stream := func(ctx context.Context) {
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Go(func() {
				eng.StreamStats(ctx, id, func(engine.Stats) bool { return true })
			})
		}
		wg.Wait()
	}
	idle := func(ctx context.Context) { <-ctx.Done() }
	// The daemon is shared with whatever else runs on the machine, so
	// windows without sampling measure its background.
	var bd, od, os_, sd, ss time.Duration
	for b.Loop() {
		for _, step := range []string{"idle", "oneshot", "stream", "idle", "stream", "oneshot"} {
			switch step {
			case "idle":
				d, _ := measure(idle)
				bd += d
			case "oneshot":
				d, s := measure(oneShot)
				od, os_ = od+d, os_+s
			default:
				d, s := measure(stream)
				sd, ss = sd+d, ss+s
			}
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Milliseconds()) / float64(b.N) }
	b.ReportMetric(ms(bd), "idle-dockerd-ms/op")
	b.ReportMetric(ms(od), "oneshot-dockerd-ms/op")
	b.ReportMetric(ms(sd), "stream-dockerd-ms/op")
	b.ReportMetric(ms(os_), "oneshot-self-ms/op")
	b.ReportMetric(ms(ss), "stream-self-ms/op")
	if os_ > 0 {
		b.ReportMetric(float64(ss)/float64(os_), "stream/oneshot-self")
	}
}
