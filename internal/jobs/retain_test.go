package jobs

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/carto-setup/carto-setup/internal/logstream"
)

// fakeRun stands for what the app keeps per install: its log hub.
type fakeRun struct{ hub *logstream.Hub }

const tailForTest = 200

func shrinkRun(r *fakeRun) *fakeRun { return &fakeRun{hub: TailHub(r.hub, tailForTest)} }

// fill appends lines to hub from three containers with interleaved
// timestamps, like an install's services.
func fill(hub *logstream.Hub, job, lines int) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range lines {
		c := fmt.Sprintf("svc-%d", i%3)
		hub.Append(logstream.Line{Container: c, Service: c, TS: t0.Add(time.Duration(i) * time.Millisecond),
			Text: fmt.Sprintf("job %d line %d %s", job, i, strings.Repeat("x", 80))})
	}
}

// runJobs runs n install-like jobs through a Runner, each filling a hub
// of lines lines, keeping them with keepRun (which returns a function that
// reports what is still referenced).
func runJobs(tb testing.TB, n, lines int, keep func(id string, run *fakeRun), finish func(id string)) []weak.Pointer[logstream.Hub] {
	tb.Helper()
	r, err := NewRunner(context.Background(), tb.TempDir(), time.Now)
	if err != nil {
		tb.Fatal(err)
	}
	var hubs []weak.Pointer[logstream.Hub]
	for j := range n {
		run := &fakeRun{hub: logstream.NewHub(logstream.HubConfig{})}
		hubs = append(hubs, weak.Make(run.hub))
		rec, err := r.Start("install", func(ctx context.Context, id string) error {
			defer finish(id)
			fill(run.hub, j, lines)
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
		keep(rec.ID, run)
		r.Wait()
	}
	return hubs
}

func retainedLines(ret *Retainer[*fakeRun], ids []string) int {
	total := 0
	for _, id := range ids {
		if run, ok := ret.Get(id); ok {
			for _, c := range run.hub.Last() {
				total += int(c)
			}
		}
	}
	return total
}

// TestFinishedJobsAreReleased runs 20 jobs of 6,000 lines each and checks
// that what stays is bounded (3 finished jobs of at most 200 lines), that
// each kept tail ends with its job's last line, and that the full hubs are
// garbage-collected.
func TestFinishedJobsAreReleased(t *testing.T) {
	ret := NewRetainer(3, shrinkRun)
	var ids []string
	const jobs, lines = 20, 6000
	hubs := runJobs(t, jobs, lines, func(id string, run *fakeRun) { ids = append(ids, id); ret.Put(id, run) }, ret.Finish)

	if running, finished := ret.Len(); running != 0 || finished != 3 {
		t.Fatalf("held %d running and %d finished, want 0 and 3", running, finished)
	}
	if got := retainedLines(ret, ids); got > 3*tailForTest {
		t.Fatalf("%d lines retained after %d jobs, want at most %d", got, jobs, 3*tailForTest)
	}
	last, ok := ret.Get(ids[jobs-1])
	if !ok {
		t.Fatal("the latest job was dropped")
	}
	b := last.hub.Poll(nil, 10*tailForTest)
	if len(b.Lines) != tailForTest || !strings.HasPrefix(b.Lines[len(b.Lines)-1].Text, fmt.Sprintf("job %d line %d ", jobs-1, lines-1)) ||
		!strings.HasPrefix(b.Lines[0].Text, fmt.Sprintf("job %d line %d ", jobs-1, lines-tailForTest)) {
		t.Fatalf("tail of the last job: %d lines, %q ... %q", len(b.Lines), b.Lines[0].Text[:30], b.Lines[len(b.Lines)-1].Text[:30])
	}
	if _, ok := ret.Get(ids[0]); ok {
		t.Fatal("the oldest job is still kept")
	}
	runtime.GC()
	for i, h := range hubs {
		if h.Value() != nil {
			t.Fatalf("the full hub of job %d is still in memory", i)
		}
	}
}

func TestRetainerFinishBeforePut(t *testing.T) {
	ret := NewRetainer(2, func(s string) string { return "shrunk " + s })
	ret.Put("a", "a")
	if v, _ := ret.Get("a"); v != "a" {
		t.Fatalf("running value %q", v)
	}
	ret.Finish("b") // the job ended before its starter stored it
	ret.Put("b", "b")
	if v, _ := ret.Get("b"); v != "shrunk b" {
		t.Fatalf("value stored after its job finished = %q, want it shrunk", v)
	}
	ret.Finish("a")
	ret.Finish("c")
	if _, ok := ret.Get("b"); ok {
		t.Fatal("keep=2 kept a third finished job")
	}
	if v, _ := ret.Get("a"); v != "shrunk a" {
		t.Fatalf("a = %q", v)
	}
}

func TestTailHubKeepsTheLastLinesInOrder(t *testing.T) {
	h := logstream.NewHub(logstream.HubConfig{})
	fill(h, 0, 50)
	tail := TailHub(h, 7)
	b := tail.Poll(nil, 100)
	var got []string
	for _, l := range b.Lines {
		got = append(got, strings.Fields(l.Text)[3])
	}
	if strings.Join(got, ",") != "43,44,45,46,47,48,49" {
		t.Fatalf("tail = %v", got)
	}
	if len(tail.Containers()) != 3 {
		t.Fatalf("containers %v", tail.Containers())
	}
}

// rssBytes is this process's resident set size.
func rssBytes() float64 {
	b, _ := os.ReadFile("/proc/self/statm")
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseFloat(f[1], 64)
	return pages * float64(os.Getpagesize())
}

// BenchmarkMemoryAfterJobs runs 1 and then 10 install-like jobs of 30,000
// lines, keeping their hubs as the app did (a map for the life of the
// process) and with a Retainer, and reports the heap and RSS after each,
// with the 10-to-1 ratio: about 10 when every hub is kept, about 1 when
// finished hubs are released.
func BenchmarkMemoryAfterJobs(b *testing.B) {
	measure := func(n int, retain bool) (heap, rss float64) {
		kept := map[string]*fakeRun{}
		ret := NewRetainer(3, func(r *fakeRun) *fakeRun { return &fakeRun{hub: TailHub(r.hub, TailLines)} })
		keep, finish := func(id string, r *fakeRun) { kept[id] = r }, func(string) {}
		if retain {
			keep, finish = ret.Put, ret.Finish
		}
		runJobs(b, n, 30000, keep, finish)
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap, rss = float64(ms.HeapAlloc), rssBytes()
		runtime.KeepAlive(kept)
		runtime.KeepAlive(ret)
		return heap, rss
	}
	for _, retain := range []bool{false, true} {
		name := "kept-forever"
		if retain {
			name = "retainer"
		}
		b.Run(name, func(b *testing.B) {
			var h1, h10, r10 float64
			for b.Loop() {
				h1, _ = measure(1, retain)
				h10, r10 = measure(10, retain)
			}
			b.ReportMetric(h1/(1<<20), "heapMiB@1job")
			b.ReportMetric(h10/(1<<20), "heapMiB@10jobs")
			b.ReportMetric(r10/(1<<20), "rssMiB@10jobs")
			b.ReportMetric(h10/h1, "heap-ratio-10/1")
		})
	}
}
