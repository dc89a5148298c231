package logstream

import (
	"testing"
	"time"
)

// stream is a daemon log stream writing lines of 150 bytes at rate bytes a
// second on a fake clock: a read returns the lines written since the last
// one, at most 64 KiB (the log client's buffer). Reading takes 20 µs.
type stream struct {
	clock *time.Time
	rate  float64
	last  time.Time
	reads int
}

func (s *stream) Read(p []byte) (int, error) {
	*s.clock = s.clock.Add(20 * time.Microsecond)
	n := int(s.rate*s.clock.Sub(s.last).Seconds()) / 150 * 150
	n = min(max(n, 150), 64<<10)
	s.last = s.last.Add(time.Duration(float64(n) / s.rate * float64(time.Second)))
	s.reads++
	return n, nil
}

func TestBatchReader(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	src := &stream{clock: &clock, last: clock}
	b := newBatchReader(src, nil)
	b.now = func() time.Time { return clock }
	waits := 0
	b.sleep = func(d time.Duration) { waits++; clock = clock.Add(d) }
	buf := make([]byte, 32<<10)
	// readFor reads for d of fake time, as fast as the source allows
	// (never before a byte is there), and returns bytes per read.
	readFor := func(rate float64, d time.Duration) (perRead float64, w int) {
		src.rate, src.reads, waits = rate, 0, 0
		end := clock.Add(d)
		total := 0
		for clock.Before(end) {
			if next := src.last.Add(time.Duration(150 * float64(time.Second) / rate)); clock.Before(next) {
				clock = next // a blocking read returns when a line is there
			}
			n, _ := b.Read(buf)
			total += n
		}
		return float64(total) / float64(src.reads), waits
	}
	// Quiet (15 KB/s, 100 lines/s): every line read at once, no wait.
	if per, w := readFor(15e3, time.Second); w != 0 || per > 200 {
		t.Errorf("quiet stream: %d waits, %.0f bytes per read; want no wait", w, per)
	}
	// Busy (1.5 MB/s, 10k lines/s): once the rate shows, reads take many
	// lines each.
	readFor(1.5e6, 200*time.Millisecond)
	if per, w := readFor(1.5e6, time.Second); w == 0 || per < 1000 {
		t.Errorf("busy stream: %d waits, %.0f bytes per read; want about 1.5 KB (10 lines) per read", w, per)
	}
	// A burst (8 MB/s, 53k lines/s): read at the source's pace, never
	// letting much more than batchBytes wait in the daemon's socket.
	readFor(8e6, 200*time.Millisecond)
	start := clock
	total, most := 0, 0
	src.rate, src.last = 8e6, clock
	for clock.Sub(start) < time.Second {
		n, _ := b.Read(buf)
		total += n
		most = max(most, n)
	}
	if got := float64(total) / clock.Sub(start).Seconds(); got < 0.9*8e6 {
		t.Errorf("burst read at %.1f MB/s, want the source's 8 MB/s", got/1e6)
	}
	if most > 2*batchBytes {
		t.Errorf("a read took %d bytes: the wait let more than twice batchBytes accumulate", most)
	}
}
