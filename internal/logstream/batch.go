package logstream

import (
	"io"
	"time"
)

// The daemon writes and flushes every log message on its own, so a reader
// that keeps up takes one or two lines per read: one system call and one
// wake-up each, which at 10k lines/s costs more than everything else the
// follower does with a line. batchReader waits a little before reading a
// busy stream, so that lines are taken many at a time; a quiet stream is
// read at once, and a stream that is behind (its last read was large) is
// read again without waiting, so throughput is never capped.
const (
	// batchWait is how long a busy stream is left to fill up: the most
	// it adds to a line's latency.
	batchWait = time.Millisecond
	// busyRate is the rate, in bytes per second over the last
	// rateWindow, above which a stream counts as busy (about 3.5k lines
	// of 150 bytes a second).
	busyRate   = 512 << 10
	rateWindow = 100 * time.Millisecond
	// fullRead is a read large enough to show that the stream is behind:
	// read again at once.
	fullRead = 2 << 10
)

type batchReader struct {
	r     io.Reader
	now   func() time.Time
	sleep func(time.Duration)

	last        int       // bytes of the last read
	windowStart time.Time // start of the current rate window
	windowBytes int       // bytes read in it
	busy        bool      // the previous window passed busyRate
}

func newBatchReader(r io.Reader) *batchReader {
	return &batchReader{r: r, now: time.Now, sleep: time.Sleep}
}

func (b *batchReader) Read(p []byte) (int, error) {
	if b.busy && b.last < fullRead {
		b.sleep(batchWait)
	}
	n, err := b.r.Read(p)
	b.last = n
	now := b.now()
	if d := now.Sub(b.windowStart); d >= rateWindow {
		b.busy = float64(b.windowBytes) >= busyRate*d.Seconds()
		b.windowStart, b.windowBytes = now, 0
	}
	b.windowBytes += n
	return n, err
}
