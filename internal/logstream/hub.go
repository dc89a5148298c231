package logstream

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Cursors holds, per container name, the seq of the last line a reader has
// seen. A container missing from the map reads from its first line.
type Cursors map[string]uint64

// Batch is what a reader gets in one pull: the gaps it fell into, the lines
// after its cursors merged across containers by timestamp, and the cursors
// to use next time.
type Batch struct {
	Gaps    []Gap
	Lines   []Line
	Cursors Cursors
	// More says that lines were left out because of the limit; read again
	// without waiting for a notification.
	More bool
}

// HubConfig bounds the ring of each container and the batches readers get.
type HubConfig struct {
	MaxLines int // lines kept per container; 0 means 10000
	MaxBytes int // bytes kept per container; 0 means 4 MiB
	// MaxBatchBytes bounds the size of a Subscription's batch (Next) as
	// the approximate size of its JSON; 0 means DefaultBatchBytes,
	// negative means no bound. A batch always holds at least one line.
	// Poll is not bounded: its callers ask for a number of lines.
	MaxBatchBytes int
	// Linger is the shortest time between two wake-ups of the
	// subscribers: the first line after a quiet spell wakes them at once,
	// the lines that follow within Linger wait for one wake-up at its end.
	// Under load readers thus take many lines per pull (one websocket
	// message, one TLS record, one write) instead of one or two. 0 means
	// DefaultLinger; negative wakes on every line.
	Linger time.Duration
}

// DefaultBatchBytes is the default bound of a batch: a client reading
// 16 KiB/s takes such a message within a few seconds, well inside the
// websocket write deadline, so it falls behind into gaps instead of being
// cut off mid-message.
const DefaultBatchBytes = 32 << 10

// DefaultLinger is the default Linger: far below what a person can see,
// and it caps the wake-ups at 500 per second per reader.
const DefaultLinger = 2 * time.Millisecond

// Hub stores the lines of a set of containers and hands them out to readers.
// Writers never wait for readers: a reader that is too slow finds a Gap.
type Hub struct {
	cfg HubConfig

	mu    sync.RWMutex
	rings map[string]*ring
	subs  map[*Subscription]struct{}

	// Wake-up coalescing (see HubConfig.Linger). dirty is set when a line
	// is stored and cleared by the wake-up that covers it; pending is set
	// while a timer will wake every subscriber.
	dirty    atomic.Bool
	pending  atomic.Bool
	wmu      sync.Mutex
	lastWake time.Time
	timer    *time.Timer
}

// NewHub returns an empty hub.
func NewHub(cfg HubConfig) *Hub {
	if cfg.MaxLines <= 0 {
		cfg.MaxLines = 10000
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 4 << 20
	}
	if cfg.MaxBatchBytes == 0 {
		cfg.MaxBatchBytes = DefaultBatchBytes
	}
	if cfg.Linger == 0 {
		cfg.Linger = DefaultLinger
	}
	h := &Hub{cfg: cfg, rings: make(map[string]*ring), subs: make(map[*Subscription]struct{})}
	h.timer = time.AfterFunc(time.Hour, h.lingerDone)
	h.timer.Stop()
	return h
}

// Append stores l in its container's ring, numbering it, and wakes every
// subscriber without blocking (at most once per Linger). It returns the
// line's seq.
func (h *Hub) Append(l Line) uint64 {
	seq := h.Store(l)
	h.Wake()
	return seq
}

// Wake wakes every subscriber, without blocking and at most once per
// Linger, if lines were stored since the last wake-up. A writer that
// stores many lines at a time (a follower reading a batch) calls Store
// for each and Wake once before it waits for more.
func (h *Hub) Wake() {
	if h.dirty.Swap(false) {
		h.notify()
	}
}

// Store is Append without the wake-up: the caller must call Wake (or
// Append) afterwards, or readers may not see the line until the next
// wake-up.
func (h *Hub) Store(l Line) uint64 {
	h.mu.RLock()
	r := h.rings[l.Container]
	h.mu.RUnlock()
	if r == nil {
		h.mu.Lock()
		if r = h.rings[l.Container]; r == nil {
			r = newRing(h.cfg.MaxLines, h.cfg.MaxBytes)
			r.service = l.Service
			if r.service == "" {
				r.service = l.Container
			}
			h.rings[l.Container] = r
		}
		h.mu.Unlock()
	}
	seq := r.push(l)
	h.dirty.Store(true)
	return seq
}

// notify wakes the subscribers after a push, now or at the end of the
// linger period. A line pushed before a wake-up is visible to the readers
// it wakes; a push that finds a wake-up pending is covered by it, since
// the timer clears pending before it wakes anyone. (Wake's dirty flag is
// set after the push and swapped before notify, so the same holds there.)
func (h *Hub) notify() {
	if h.cfg.Linger < 0 {
		h.wakeAll()
		return
	}
	if h.pending.Load() {
		return
	}
	h.wmu.Lock()
	if h.pending.Load() {
		h.wmu.Unlock()
		return
	}
	now := time.Now()
	if wait := h.lastWake.Add(h.cfg.Linger).Sub(now); wait > 0 {
		h.pending.Store(true)
		h.timer.Reset(wait)
		h.wmu.Unlock()
		return
	}
	h.lastWake = now
	h.wmu.Unlock()
	h.wakeAll()
}

func (h *Hub) lingerDone() {
	h.wmu.Lock()
	h.lastWake = time.Now()
	h.pending.Store(false)
	h.wmu.Unlock()
	h.wakeAll()
}

func (h *Hub) wakeAll() {
	h.mu.RLock()
	for s := range h.subs {
		if s.only == nil || s.changed(h) {
			s.wake()
		}
	}
	h.mu.RUnlock()
}

// Containers returns the names of the containers that have lines, sorted.
func (h *Hub) Containers() []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return slices.Sorted(maps.Keys(h.rings))
}

// Last returns the current cursor of every container: what a reader that
// wants only new lines starts from.
func (h *Hub) Last() Cursors {
	h.mu.RLock()
	defer h.mu.RUnlock()
	c := make(Cursors, len(h.rings))
	for name, r := range h.rings {
		c[name] = r.last()
	}
	return c
}

// Poll returns up to limit lines after cursors, for readers that poll (the
// HTTP fallback); cursors is not modified. Lines of different containers are
// merged by daemon timestamp; each container's lines stay in seq order.
func (h *Hub) Poll(cursors Cursors, limit int) Batch { return h.poll(cursors, limit, -1, nil) }

// PollServices is Poll of the containers of the given Compose services
// only (and of the project's own markers, ProjectService). The cursors of
// other containers are passed through as they are.
func (h *Hub) PollServices(cursors Cursors, limit int, services []string) Batch {
	return h.poll(cursors, limit, -1, serviceSet(services))
}

// serviceSet is the set a service filter reads: nil for all.
func serviceSet(services []string) map[string]bool {
	if len(services) == 0 {
		return nil
	}
	set := map[string]bool{ProjectService: true}
	for _, s := range services {
		set[s] = true
	}
	return set
}

// poll is Poll with a bound on the batch's approximate JSON size
// (negative: none), of the rings of the services in only (nil: all).
func (h *Hub) poll(cursors Cursors, limit, maxSize int, only map[string]bool) Batch {
	if limit <= 0 {
		limit = 1000
	}
	h.mu.RLock()
	names := make([]string, 0, len(h.rings))
	for n, r := range h.rings {
		if only == nil || only[r.service] {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	rings := make([]*ring, len(names))
	for i, n := range names {
		rings[i] = h.rings[n]
	}
	h.mu.RUnlock()

	b := Batch{Cursors: maps.Clone(cursors)}
	if b.Cursors == nil {
		b.Cursors = make(Cursors, len(names))
	}
	per := make([][]Line, len(names))
	total, from := 0, -1
	for i, r := range rings {
		lines, gap, more := r.read(names[i], cursors[names[i]], limit, maxSize, nil)
		if gap != nil {
			b.Gaps = append(b.Gaps, *gap)
			b.Cursors[names[i]] = gap.To
		}
		per[i] = lines
		b.More = b.More || more
		if len(lines) > 0 {
			total += len(lines)
			from = i
		}
	}
	if total > 0 && total == len(per[from]) && len(per[from]) <= limit {
		// One container has news: its lines are the batch as they are.
		// (Common under load, when one chatty service fills the batch.)
		b.Lines = per[from]
		b.Cursors[names[from]] = b.Lines[len(b.Lines)-1].Seq
		return b
	}
	b.Lines = make([]Line, 0, min(total, limit))
	// k-way merge by (timestamp, container): keeps each container's lines
	// as a prefix, so its cursor is simply the last one taken.
	size := 0
	for len(b.Lines) < limit && (maxSize < 0 || size < maxSize) {
		best := -1
		for i, ls := range per {
			if len(ls) == 0 {
				continue
			}
			if best < 0 || ls[0].TS.Before(per[best][0].TS) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		l := per[best][0]
		if n := jsonSize(&l); len(b.Lines) > 0 && maxSize >= 0 && size+n > maxSize {
			break
		}
		per[best] = per[best][1:]
		b.Lines = append(b.Lines, l)
		b.Cursors[l.Container] = l.Seq
		size += jsonSize(&l)
	}
	for _, ls := range per {
		b.More = b.More || len(ls) > 0
	}
	return b
}

// Subscription is one reader's position in a hub, meant for a single
// goroutine (a websocket's writer): wait on Notify, then call Next until
// More is false.
type Subscription struct {
	h       *Hub
	notify  chan struct{}
	cursors Cursors
	// only, if set, is the services whose containers it reads; it is
	// woken only when one of them has new lines: a view of one quiet
	// service costs nothing while others write. seen is how many lines
	// those had when it was last woken.
	only map[string]bool
	seen atomic.Uint64
}

// Subscribe registers a reader starting after cursors (nil: from the start
// of every ring; use Last for only new lines). It starts no goroutine; the
// caller must Close it.
func (h *Hub) Subscribe(cursors Cursors) *Subscription { return h.SubscribeServices(cursors, nil) }

// SubscribeServices is Subscribe to the containers of the given Compose
// services only (and to the project's own markers, ProjectService); none
// means all.
func (h *Hub) SubscribeServices(cursors Cursors, services []string) *Subscription {
	s := &Subscription{h: h, notify: make(chan struct{}, 1), cursors: maps.Clone(cursors), only: serviceSet(services)}
	if s.cursors == nil {
		s.cursors = make(Cursors)
	}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	s.wake() // whatever is already stored is news to this reader
	return s
}

// changed reports whether the rings of a filtered subscription have lines
// it was not woken for; the caller holds h.mu.
func (s *Subscription) changed(h *Hub) bool {
	var n uint64
	for _, r := range h.rings {
		if s.only[r.service] {
			n += r.pushed.Load()
		}
	}
	return s.seen.Swap(n) != n
}

func (s *Subscription) wake() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Notify returns a channel that receives a value when lines may have been
// added since the last Next. Many appends coalesce into one value.
func (s *Subscription) Notify() <-chan struct{} { return s.notify }

// Next returns up to limit lines after the subscription's cursors, and
// up to about MaxBatchBytes of JSON, and advances the cursors.
func (s *Subscription) Next(limit int) Batch {
	b := s.h.poll(s.cursors, limit, s.h.cfg.MaxBatchBytes, s.only)
	s.cursors = b.Cursors
	return b
}

// Cursors returns a copy of the subscription's current cursors, for a
// client to resume from after reconnecting.
func (s *Subscription) Cursors() Cursors { return maps.Clone(s.cursors) }

// Close unregisters the subscription. It is safe to call more than once.
func (s *Subscription) Close() {
	s.h.mu.Lock()
	delete(s.h.subs, s)
	s.h.mu.Unlock()
}
