package jobs

import (
	"sync"

	"github.com/carto-setup/carto-setup/internal/logstream"
)

// Retainer keeps what a job shows (its log hub, its board) in memory: all
// of it while the job runs, and once it finishes only what shrink makes of
// it, for the keep most recent finished jobs. Without it every install's
// full log buffers stayed for the life of the process (hundreds of MiB
// after a few installs); the finished job's lines belong in the on-disk log
// store. It is safe for concurrent use.
type Retainer[T any] struct {
	keep   int
	shrink func(T) T

	mu       sync.Mutex
	running  map[string]T
	finished map[string]T
	order    []string // finished IDs, oldest first
	ended    map[string]bool
}

// NewRetainer returns a Retainer keeping keep finished jobs (at least 1),
// each reduced by shrink when it finishes.
func NewRetainer[T any](keep int, shrink func(T) T) *Retainer[T] {
	return &Retainer[T]{keep: max(keep, 1), shrink: shrink,
		running: map[string]T{}, finished: map[string]T{}, ended: map[string]bool{}}
}

// Put stores the value of a job. A job that already finished (Finish can
// run first: Runner.Start returns its ID only after starting it) is stored
// shrunk.
func (r *Retainer[T]) Put(id string, v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended[id] {
		delete(r.ended, id)
		r.finished[id] = r.shrink(v)
		return
	}
	r.running[id] = v
}

// Get returns the value of a job, whole while it runs and shrunk after.
func (r *Retainer[T]) Get(id string) (T, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.running[id]; ok {
		return v, true
	}
	v, ok := r.finished[id]
	return v, ok
}

// Finish replaces a job's value by its shrunk form and forgets the oldest
// finished jobs beyond keep. Call it when the job's work returns (a defer
// in the job's Func).
func (r *Retainer[T]) Finish(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.running[id]; ok {
		delete(r.running, id)
		r.finished[id] = r.shrink(v)
	} else {
		r.ended[id] = true
	}
	r.order = append(r.order, id)
	for len(r.order) > r.keep {
		old := r.order[0]
		r.order = r.order[1:]
		delete(r.finished, old)
		delete(r.ended, old)
	}
}

// Len reports how many jobs are held running and finished.
func (r *Retainer[T]) Len() (running, finished int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.running), len(r.finished)
}

// TailLines is how many of a finished job's log lines TailHub keeps by
// default: enough for the job page to show how it ended.
const TailLines = 1000

// TailHub returns a new hub holding the last n lines of h across its
// containers (in timestamp order, numbered afresh), for a finished job:
// h and its buffers can then be garbage-collected once nobody follows it.
func TailHub(h *logstream.Hub, n int) *logstream.Hub {
	if n <= 0 {
		n = TailLines
	}
	from := logstream.Cursors{}
	for name, last := range h.Last() {
		if last > uint64(n) {
			from[name] = last - uint64(n)
		}
	}
	var lines []logstream.Line
	for {
		b := h.Poll(from, 4*n)
		lines = append(lines, b.Lines...)
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		from = b.Cursors
		if !b.More {
			break
		}
	}
	lines = append([]logstream.Line(nil), lines...) // drop the backing array of the rest
	tail := logstream.NewHub(logstream.HubConfig{MaxLines: n, MaxBytes: 1 << 20})
	for _, l := range lines {
		tail.Append(l)
	}
	return tail
}
