package logstream

import (
	"maps"
	"slices"
	"sync"
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

// HubConfig bounds the ring of each container.
type HubConfig struct {
	MaxLines int // lines kept per container; 0 means 10000
	MaxBytes int // bytes kept per container; 0 means 4 MiB
}

// Hub stores the lines of a set of containers and hands them out to readers.
// Writers never wait for readers: a reader that is too slow finds a Gap.
type Hub struct {
	cfg HubConfig

	mu    sync.RWMutex
	rings map[string]*ring
	subs  map[*Subscription]struct{}
}

// NewHub returns an empty hub.
func NewHub(cfg HubConfig) *Hub {
	if cfg.MaxLines <= 0 {
		cfg.MaxLines = 10000
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 4 << 20
	}
	return &Hub{cfg: cfg, rings: make(map[string]*ring), subs: make(map[*Subscription]struct{})}
}

// Append stores l in its container's ring, numbering it, and wakes every
// subscriber without blocking. It returns the line's seq.
func (h *Hub) Append(l Line) uint64 {
	h.mu.RLock()
	r := h.rings[l.Container]
	h.mu.RUnlock()
	if r == nil {
		h.mu.Lock()
		if r = h.rings[l.Container]; r == nil {
			r = newRing(h.cfg.MaxLines, h.cfg.MaxBytes)
			h.rings[l.Container] = r
		}
		h.mu.Unlock()
	}
	seq := r.push(l)
	h.mu.RLock()
	for s := range h.subs {
		s.wake()
	}
	h.mu.RUnlock()
	return seq
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
func (h *Hub) Poll(cursors Cursors, limit int) Batch {
	if limit <= 0 {
		limit = 1000
	}
	h.mu.RLock()
	names := slices.Sorted(maps.Keys(h.rings))
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
	for i, r := range rings {
		lines, gap, more := r.read(names[i], cursors[names[i]], limit, nil)
		if gap != nil {
			b.Gaps = append(b.Gaps, *gap)
			b.Cursors[names[i]] = gap.To
		}
		per[i] = lines
		b.More = b.More || more
	}
	// k-way merge by (timestamp, container): keeps each container's lines
	// as a prefix, so its cursor is simply the last one taken.
	for len(b.Lines) < limit {
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
		per[best] = per[best][1:]
		b.Lines = append(b.Lines, l)
		b.Cursors[l.Container] = l.Seq
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
}

// Subscribe registers a reader starting after cursors (nil: from the start
// of every ring; use Last for only new lines). It starts no goroutine; the
// caller must Close it.
func (h *Hub) Subscribe(cursors Cursors) *Subscription {
	s := &Subscription{h: h, notify: make(chan struct{}, 1), cursors: maps.Clone(cursors)}
	if s.cursors == nil {
		s.cursors = make(Cursors)
	}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	s.wake() // whatever is already stored is news to this reader
	return s
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

// Next returns up to limit lines after the subscription's cursors and
// advances them.
func (s *Subscription) Next(limit int) Batch {
	b := s.h.Poll(s.cursors, limit)
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
