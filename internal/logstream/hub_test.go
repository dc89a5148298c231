package logstream

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func seqs(lines []Line) []uint64 {
	var s []uint64
	for _, l := range lines {
		s = append(s, l.Seq)
	}
	return s
}

func TestRing(t *testing.T) {
	text := func(n int) string { return string(make([]byte, n)) }
	tests := []struct {
		name      string
		maxLines  int
		maxBytes  int
		sizes     []int // text length of each appended line
		cursor    uint64
		limit     int
		wantSeqs  []uint64
		wantGap   *Gap
		wantMore  bool
		wantBytes int
	}{
		{name: "all kept", maxLines: 10, maxBytes: 1 << 20, sizes: []int{1, 2, 3}, limit: 10,
			wantSeqs: []uint64{1, 2, 3}, wantBytes: 6 + 3*lineOverhead},
		{name: "after cursor", maxLines: 10, maxBytes: 1 << 20, sizes: []int{1, 2, 3}, cursor: 2, limit: 10,
			wantSeqs: []uint64{3}, wantBytes: 6 + 3*lineOverhead},
		{name: "up to date", maxLines: 10, maxBytes: 1 << 20, sizes: []int{1, 2, 3}, cursor: 3, limit: 10,
			wantBytes: 6 + 3*lineOverhead},
		{name: "limit", maxLines: 10, maxBytes: 1 << 20, sizes: []int{1, 2, 3}, limit: 2,
			wantSeqs: []uint64{1, 2}, wantMore: true, wantBytes: 6 + 3*lineOverhead},
		{name: "line bound drops oldest", maxLines: 3, maxBytes: 1 << 20, sizes: []int{1, 1, 1, 1, 1}, limit: 10,
			wantSeqs: []uint64{3, 4, 5}, wantGap: &Gap{"c", 1, 2}, wantBytes: 3 + 3*lineOverhead},
		{name: "gap only for what was lost", maxLines: 3, maxBytes: 1 << 20, sizes: []int{1, 1, 1, 1, 1}, cursor: 1, limit: 10,
			wantSeqs: []uint64{3, 4, 5}, wantGap: &Gap{"c", 2, 2}, wantBytes: 3 + 3*lineOverhead},
		{name: "byte bound drops oldest", maxLines: 100, maxBytes: 2*lineOverhead + 200, sizes: []int{100, 100, 100, 50}, limit: 10,
			wantSeqs: []uint64{3, 4}, wantGap: &Gap{"c", 1, 2}, wantBytes: 150 + 2*lineOverhead},
		{name: "one line bigger than the byte bound is kept", maxLines: 100, maxBytes: 10, sizes: []int{5, 500}, limit: 10,
			wantSeqs: []uint64{2}, wantGap: &Gap{"c", 1, 1}, wantBytes: 500 + lineOverhead},
		{name: "cursor from the future reads from the start", maxLines: 10, maxBytes: 1 << 20, sizes: []int{1, 1}, cursor: 99, limit: 10,
			wantSeqs: []uint64{1, 2}, wantBytes: 2 + 2*lineOverhead},
		{name: "wraps around many times", maxLines: 100, maxBytes: 1 << 20, sizes: make([]int, 1000), cursor: 950, limit: 10,
			wantSeqs: []uint64{951, 952, 953, 954, 955, 956, 957, 958, 959, 960}, wantMore: true, wantBytes: 100 * lineOverhead},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRing(tt.maxLines, tt.maxBytes)
			for i, n := range tt.sizes {
				if got := r.push(Line{Container: "c", Text: text(n)}); got != uint64(i+1) {
					t.Fatalf("push %d returned seq %d", i, got)
				}
			}
			lines, gap, more := r.read("c", tt.cursor, tt.limit, -1, nil)
			if diff := cmp.Diff(tt.wantSeqs, seqs(lines)); diff != "" {
				t.Errorf("seqs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantGap, gap); diff != "" {
				t.Errorf("gap (-want +got):\n%s", diff)
			}
			if more != tt.wantMore {
				t.Errorf("more = %v, want %v", more, tt.wantMore)
			}
			if r.bytes != tt.wantBytes {
				t.Errorf("bytes = %d, want %d", r.bytes, tt.wantBytes)
			}
		})
	}
}

func TestPollMergesByTimestamp(t *testing.T) {
	h := NewHub(HubConfig{})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	add := func(c string, sec int, text string) {
		h.Append(Line{Container: c, TS: t0.Add(time.Duration(sec) * time.Second), Text: text})
	}
	add("b", 2, "b2")
	add("a", 1, "a1")
	add("a", 3, "a3")
	add("b", 0, "b0") // out of order within b: stays after b2
	add("c", 5, "c5")

	text := func(b Batch) []string {
		var s []string
		for _, l := range b.Lines {
			s = append(s, l.Text)
		}
		return s
	}
	b := h.Poll(nil, 3)
	if diff := cmp.Diff([]string{"a1", "b2", "b0"}, text(b)); diff != "" {
		t.Errorf("first batch (-want +got):\n%s", diff)
	}
	if !b.More {
		t.Error("More = false after a partial batch")
	}
	if diff := cmp.Diff(Cursors{"a": 1, "b": 2}, b.Cursors); diff != "" {
		t.Errorf("cursors (-want +got):\n%s", diff)
	}
	b = h.Poll(b.Cursors, 10)
	if diff := cmp.Diff([]string{"a3", "c5"}, text(b)); diff != "" {
		t.Errorf("second batch (-want +got):\n%s", diff)
	}
	if b.More {
		t.Error("More = true after a full batch")
	}
	if diff := cmp.Diff(Cursors{"a": 2, "b": 2, "c": 1}, h.Last()); diff != "" {
		t.Errorf("Last (-want +got):\n%s", diff)
	}
}

// TestGapAccounting checks that a reader sees every line exactly once or
// inside a gap, whatever its pace.
func TestGapAccounting(t *testing.T) {
	h := NewHub(HubConfig{MaxLines: 50})
	s := h.Subscribe(nil)
	defer s.Close()
	const total = 5000
	seen := map[string]uint64{}
	var delivered, gapped uint64
	for i := range total {
		h.Append(Line{Container: fmt.Sprint("c", i%3), Text: "x"})
		if i%10 == 0 { // read a little, so the reader falls behind
			b := s.Next(7)
			for _, g := range b.Gaps {
				if g.From != seen[g.Container]+1 {
					t.Fatalf("gap %+v does not follow cursor %d", g, seen[g.Container])
				}
				gapped += g.To - g.From + 1
				seen[g.Container] = g.To
			}
			for _, l := range b.Lines {
				if l.Seq != seen[l.Container]+1 {
					t.Fatalf("line %s/%d after %d", l.Container, l.Seq, seen[l.Container])
				}
				seen[l.Container] = l.Seq
				delivered++
			}
		}
	}
	for b := s.Next(1000); len(b.Lines) > 0 || len(b.Gaps) > 0; b = s.Next(1000) {
		for _, g := range b.Gaps {
			gapped += g.To - g.From + 1
		}
		delivered += uint64(len(b.Lines))
	}
	t.Logf("delivered %d, gapped %d", delivered, gapped)
	if delivered+gapped != total || gapped == 0 {
		t.Errorf("delivered %d + gapped %d, want %d total with some gaps", delivered, gapped, total)
	}
}

// TestSlowSubscriberDoesNotBlock appends while a subscriber never reads.
func TestSlowSubscriberDoesNotBlock(t *testing.T) {
	h := NewHub(HubConfig{MaxLines: 100})
	stalled := h.Subscribe(nil)
	defer stalled.Close()
	fast := h.Subscribe(nil)
	defer fast.Close()

	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100000 {
			h.Append(Line{Container: "c", Text: "line"})
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("producer blocked behind a subscriber that never reads")
	}
	if len(stalled.Notify()) != 1 {
		t.Errorf("notification channel holds %d values, want 1 (coalesced)", len(stalled.Notify()))
	}
	b := stalled.Next(1000)
	if want := []Gap{{"c", 1, 99900}}; !cmp.Equal(want, b.Gaps) {
		t.Errorf("gaps = %v, want %v", b.Gaps, want)
	}
	if len(b.Lines) != 100 {
		t.Errorf("got %d lines, want the 100 in the ring", len(b.Lines))
	}
}

// TestSubscribeNoLeak runs subscribe, read, close cycles next to a producer
// and checks that the goroutine count returns to its baseline.
func TestSubscribeNoLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	h := NewHub(HubConfig{MaxLines: 1000})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				h.Append(Line{Container: "c", Text: "x"})
			}
		}
	})
	for range 200 {
		var rw sync.WaitGroup
		for range 4 {
			s := h.Subscribe(h.Last())
			rw.Go(func() {
				defer s.Close()
				for range 3 {
					<-s.Notify()
					s.Next(100)
				}
			})
		}
		rw.Wait()
	}
	close(stop)
	wg.Wait()
	h.mu.RLock()
	n := len(h.subs)
	h.mu.RUnlock()
	if n != 0 {
		t.Errorf("%d subscriptions still registered", n)
	}
	waitGoroutines(t, base)
}

// waitGoroutines waits up to 5 s for the goroutine count to drop back to
// base.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, baseline %d:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLineJSON(t *testing.T) {
	l := Line{Container: "c", Service: "s", Stream: Stderr, TS: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Seq: 7, Text: "t"}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"container":"c","service":"s","stream":"stderr","ts":"2026-01-02T03:04:05.000000006Z","seq":7,"text":"t"}`
	if string(b) != want {
		t.Errorf("JSON %s, want %s", b, want)
	}
	var back Line
	if err := json.Unmarshal(b, &back); err != nil || !cmp.Equal(l, back) {
		t.Errorf("round trip: %v, %+v", err, back)
	}
}

// TestLingerCoalescesWakeups checks that the first line after a quiet
// spell wakes a reader at once, that the lines following within Linger
// share a single later wake-up, and that no line is left without one.
func TestLingerCoalescesWakeups(t *testing.T) {
	h := NewHub(HubConfig{Linger: 500 * time.Millisecond})
	s := h.Subscribe(nil)
	defer s.Close()
	<-s.Notify() // the one Subscribe sends
	h.Append(Line{Container: "c", Text: "first"})
	select {
	case <-s.Notify():
	default:
		t.Fatal("the first line after a quiet spell did not wake the reader at once")
	}
	if b := s.Next(1000); len(b.Lines) != 1 {
		t.Fatalf("read %d lines, want 1", len(b.Lines))
	}
	start := time.Now()
	for i := range 100 {
		h.Append(Line{Container: "c", Text: fmt.Sprint("burst ", i)})
	}
	select {
	case <-s.Notify():
		if time.Since(start) < 400*time.Millisecond {
			t.Fatal("the reader was woken inside the linger period")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no wake-up for lines appended inside the linger period")
	}
	if b := s.Next(1000); len(b.Lines) != 100 || b.More {
		t.Errorf("one wake-up gave %d lines (more: %v), want all 100", len(b.Lines), b.More)
	}
}

// TestNoLostWakeup has several writers append concurrently with the
// default linger while a reader drains on every notification: once the
// writers stop, the reader must get every line without polling.
func TestNoLostWakeup(t *testing.T) {
	h := NewHub(HubConfig{MaxLines: 1 << 20, MaxBytes: 1 << 30})
	s := h.Subscribe(nil)
	defer s.Close()
	const writers, each = 4, 20000
	got := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for got < writers*each {
			select {
			case <-s.Notify():
			case <-time.After(10 * time.Second):
				return
			}
			for {
				b := s.Next(1000)
				got += len(b.Lines)
				if !b.More {
					break
				}
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				h.Append(Line{Container: fmt.Sprint("c", w), Text: "x"})
				if i%1000 == 0 {
					time.Sleep(time.Millisecond) // quiet spells, so both paths run
				}
			}
		})
	}
	wg.Wait()
	<-done
	if got != writers*each {
		t.Errorf("reader got %d lines, want %d: a wake-up was lost", got, writers*each)
	}
}

func TestBatchBytes(t *testing.T) {
	h := NewHub(HubConfig{MaxBatchBytes: 2000})
	for i := range 50 {
		h.Append(Line{Container: fmt.Sprint("c", i%2), Service: "s", Text: strings.Repeat("x", 100)})
	}
	h.Append(Line{Container: "c0", Service: "s", Text: strings.Repeat("y", 5000)})
	sub := h.Subscribe(nil)
	defer sub.Close()
	if b := h.Poll(nil, 500); len(b.Lines) != 51 {
		t.Errorf("Poll gave %d lines, want all 51: it is bounded in lines only", len(b.Lines))
	}
	total := 0
	for {
		b := sub.Next(500)
		size := 0
		for i := range b.Lines {
			size += jsonSize(&b.Lines[i])
		}
		if len(b.Lines) == 0 {
			t.Fatal("an empty batch with more to read")
		}
		if size > 2000 && len(b.Lines) > 1 {
			t.Errorf("a batch of %d lines holds %d bytes, over the bound of 2000", len(b.Lines), size)
		}
		total += len(b.Lines)
		if !b.More {
			break
		}
	}
	if total != 51 {
		t.Errorf("read %d lines in bounded batches, want 51 (the long one alone)", total)
	}
}

func TestPositionReplay(t *testing.T) {
	ts := func(ms int) time.Time { return time.Date(2026, 1, 1, 0, 0, 0, ms*1e6, time.UTC) }
	var p Position
	for _, r := range []struct {
		s  Stream
		ms int
	}{{Stdout, 1}, {Stderr, 5}, {Stdout, 3}, {Stdout, 3}, {System, 0}} {
		t := ts(r.ms)
		if r.ms == 0 {
			t = time.Time{}
		}
		p.Advance(r.s, t)
	}
	if p[Stdout] != (StreamPos{ts(3), 2}) || p[Stderr] != (StreamPos{ts(5), 1}) || p.Since() != ts(3) {
		t.Fatalf("position %+v, since %v", p, p.Since())
	}
	rep := newReplay(p)
	var kept []string
	for _, r := range []struct {
		s  Stream
		ms int
	}{{Stdout, 3}, {Stderr, 4}, {Stdout, 3}, {Stderr, 5}, {Stdout, 3}, {Stderr, 5}, {Stdout, 2}, {Stdout, 4}, {System, 0}} {
		t := ts(r.ms)
		if r.ms == 0 {
			t = time.Time{}
		}
		if !rep.skip(r.s, t) {
			kept = append(kept, fmt.Sprintf("%s@%d", r.s, r.ms))
		}
	}
	// The third stdout line at 3 ms and the second stderr line at 5 ms are
	// new; "stdout@2" after the stream passed its timestamp is kept, as
	// the daemon never replays older lines once newer ones came.
	want := []string{"stdout@3", "stderr@5", "stdout@2", "stdout@4", "system@0"}
	if diff := cmp.Diff(want, kept); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
}

// TestSubscribeServices reads the containers of some services only, and
// the project's markers, and is woken only when those have new lines.
func TestSubscribeServices(t *testing.T) {
	t.Parallel()
	h := NewHub(HubConfig{Linger: -1})
	ts := time.Unix(1700000000, 0)
	h.Append(Line{Container: "p-api-1", Service: "api", Stream: Stdout, TS: ts, Text: "api 1"})
	sub := h.SubscribeServices(nil, []string{"db"})
	defer sub.Close()
	<-sub.Notify() // whatever is stored is news to a new reader
	if b := sub.Next(100); len(b.Lines) != 0 {
		t.Fatalf("a db reader got %+v", b.Lines)
	}
	for i := range 50 {
		h.Append(Line{Container: "p-api-1", Service: "api", Stream: Stdout, TS: ts.Add(time.Duration(i)), Text: "api"})
	}
	select {
	case <-sub.Notify():
		t.Fatal("a db reader was woken by api's lines")
	default:
	}
	h.Append(Line{Container: "p-db-1", Service: "db", Stream: Stderr, TS: ts.Add(time.Second), Text: "db 1"})
	h.Append(Line{Container: ProjectService, Service: ProjectService, Stream: Marker, Marker: MarkInstall, TS: ts.Add(2 * time.Second), Text: "install"})
	select {
	case <-sub.Notify():
	case <-time.After(5 * time.Second):
		t.Fatal("a db reader was not woken by db's line")
	}
	b := sub.Next(100)
	var got []string
	for _, l := range b.Lines {
		got = append(got, l.Text)
	}
	if strings.Join(got, ",") != "db 1,install" || b.Cursors["p-api-1"] != 0 {
		t.Errorf("lines %q, cursors %v", got, b.Cursors)
	}
	if p := h.PollServices(nil, 100, []string{"api"}); len(p.Lines) != 52 {
		t.Errorf("PollServices(api): %d lines, want api's 51 and the marker", len(p.Lines))
	}
}
