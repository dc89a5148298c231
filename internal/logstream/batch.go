package logstream

import (
	"io"
	"time"
)

// The daemon writes and flushes every log message on its own, so a reader
// that keeps up takes one or two lines per read: one system call and one
// wake-up each, and one wake-up of every websocket writer, which at 10k
// lines/s costs more than everything else the follower does with a line.
// batchReader waits a little before reading a busy stream, so that lines
// are taken, and announced to readers, many at a time; a quiet stream is
// read at once, and a stream that is behind (its last read was large) is
// read again without waiting, so throughput is never capped.
const (
	// maxWait is the longest a busy stream is left to fill up: the most
	// it adds to a line's latency.
	maxWait = 2 * time.Millisecond
	// batchBytes is what a wait aims to let accumulate: about 55 lines
	// of 150 bytes. Much more could block the daemon: its messages wait
	// in the socket each as a buffer of its own, and a unix socket's
	// default send buffer holds only a few hundred of them.
	batchBytes = 8 << 10
	minWait    = 250 * time.Microsecond
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
	// idle, if set, is called before every read or wait: the reader has
	// taken all it had, which is when its lines are worth announcing.
	idle func()

	last        int           // bytes of the last read
	windowStart time.Time     // start of the current rate window
	windowBytes int           // bytes read in it
	wait        time.Duration // what the previous window's rate calls for; 0: quiet
}

func newBatchReader(r io.Reader, idle func()) *batchReader {
	return &batchReader{r: r, now: time.Now, sleep: time.Sleep, idle: idle}
}

func (b *batchReader) Read(p []byte) (int, error) {
	if b.idle != nil {
		b.idle()
	}
	if b.wait > 0 && b.last < fullRead {
		b.sleep(b.wait)
	}
	n, err := b.r.Read(p)
	b.last = n
	now := b.now()
	if d := now.Sub(b.windowStart); d >= rateWindow {
		b.wait = 0
		if rate := float64(b.windowBytes) / d.Seconds(); rate >= busyRate {
			b.wait = min(max(time.Duration(batchBytes/rate*float64(time.Second)), minWait), maxWait)
		}
		b.windowStart, b.windowBytes = now, 0
	}
	b.windowBytes += n
	return n, err
}
