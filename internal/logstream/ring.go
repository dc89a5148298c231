package logstream

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Line is one log line of a container as stored and delivered.
type Line struct {
	Container string    `json:"container"` // container name, the ring's key
	Service   string    `json:"service"`   // Compose service, from com.docker.compose.service
	Stream    Stream    `json:"stream"`
	TS        time.Time `json:"ts"`  // daemon timestamp
	Seq       uint64    `json:"seq"` // per container, from 1, without holes
	Text      string    `json:"text"`
	Truncated bool      `json:"truncated,omitempty"` // cut at MaxLine
	// Marker says what a line of the Marker stream marks (MarkRecreated,
	// MarkRestarted, ...); empty for the container's own lines.
	Marker string `json:"marker,omitempty"`
}

// Gap tells a reader that the lines From..To (inclusive) of a container were
// dropped from the ring before it read them.
type Gap struct {
	Container string `json:"container"`
	From      uint64 `json:"from"`
	To        uint64 `json:"to"`
}

// lineOverhead approximates the memory a stored line costs besides its text,
// so that a ring of many short lines is bounded too.
const lineOverhead = 96

// ring holds the latest lines of one container, bounded by a count and by
// bytes. Sequence numbers keep counting when old lines are dropped, so a
// reader's cursor tells how many it missed.
type ring struct {
	maxLines, maxBytes int
	service            string        // the Compose service of its container
	pushed             atomic.Uint64 // lines pushed, read without the lock

	mu    sync.Mutex
	buf   []Line // circular; grows by doubling up to maxLines
	start int    // index of the oldest line
	n     int
	bytes int
	next  uint64 // seq of the next line
}

func newRing(maxLines, maxBytes int) *ring {
	return &ring{maxLines: maxLines, maxBytes: maxBytes, next: 1}
}

func lineSize(l *Line) int { return len(l.Text) + lineOverhead }

// jsonOverhead approximates the JSON of a Line besides its strings: the
// keys, the stream, the timestamp and the seq.
const jsonOverhead = 100

// jsonSize approximates the size of a line's JSON, escapes aside.
func jsonSize(l *Line) int { return len(l.Text) + len(l.Container) + len(l.Service) + jsonOverhead }

// push stores l with the next sequence number and returns that number.
func (r *ring) push(l Line) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	l.Seq = r.next
	r.next++
	if r.n == len(r.buf) {
		if len(r.buf) < r.maxLines {
			r.grow()
		} else {
			r.drop()
		}
	}
	r.buf[(r.start+r.n)%len(r.buf)] = l
	r.n++
	r.bytes += lineSize(&l)
	for r.bytes > r.maxBytes && r.n > 1 {
		r.drop()
	}
	r.pushed.Add(1)
	return l.Seq
}

func (r *ring) grow() {
	size := min(max(2*len(r.buf), 64), r.maxLines)
	buf := make([]Line, size)
	for i := range r.n {
		buf[i] = r.buf[(r.start+i)%len(r.buf)]
	}
	r.buf, r.start = buf, 0
}

func (r *ring) drop() {
	old := &r.buf[r.start]
	r.bytes -= lineSize(old)
	*old = Line{} // release the text
	r.start = (r.start + 1) % len(r.buf)
	r.n--
}

// read appends to dst up to limit lines after cursor, and up to maxBytes
// of their approximate JSON (at least one line; negative: no bound), and
// returns them, the gap between cursor and the oldest stored line if there
// is one, and whether more lines remain. A cursor beyond the last line (from
// before a restart of the program) counts as 0.
func (r *ring) read(name string, cursor uint64, limit, maxBytes int, dst []Line) ([]Line, *Gap, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	last := r.next - 1
	if cursor > last {
		cursor = 0
	}
	var gap *Gap
	oldest := r.next - uint64(r.n)
	if cursor+1 < oldest {
		gap = &Gap{Container: name, From: cursor + 1, To: oldest - 1}
		cursor = oldest - 1
	}
	from := int(cursor + 1 - oldest) // index among stored lines
	avail := r.n - from
	take := min(avail, limit)
	if maxBytes >= 0 {
		size := 0
		for i := range take {
			n := jsonSize(&r.buf[(r.start+from+i)%len(r.buf)])
			if i > 0 && size+n > maxBytes {
				take = i
				break
			}
			size += n
		}
	}
	dst = slices.Grow(dst, take)
	for i := range take {
		dst = append(dst, r.buf[(r.start+from+i)%len(r.buf)])
	}
	return dst, gap, take < avail
}

// last returns the seq of the newest line, 0 if none.
func (r *ring) last() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.next - 1
}
