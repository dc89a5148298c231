package logstore

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/carto-setup/carto-setup/internal/logstream"
)

// Config says where a Store keeps its timelines and how much.
type Config struct {
	Dir string // created owner-only (0700) if missing
	// MaxBytes caps each service's timeline on disk; 0 means
	// DefaultMaxBytes. SegmentBytes is the size of the segments it is cut
	// into; 0 means MaxBytes/16, so that a look at the newest lines reads
	// little. When a new segment would pass the cap, the
	// oldest is deleted, so a timeline never holds more than MaxBytes.
	MaxBytes     int64
	SegmentBytes int64
	// Masker masks every text before it is written; nil masks nothing.
	// SetMasker replaces it.
	Masker *logstream.Masker
	// FlushEvery is how often buffered records are written to the files,
	// where other processes can read them; 0 means 200 ms. A crash loses
	// at most that much, which the follower reads again from the daemon.
	FlushEvery time.Duration
	Log        *slog.Logger // nil discards
}

// DefaultMaxBytes is the default cap of one service's timeline.
const DefaultMaxBytes = 64 << 20

// MinSegmentBytes is the smallest segment a Store cuts.
const MinSegmentBytes = 64 << 10

// bufferBytes is how much a timeline buffers before it writes at once.
const bufferBytes = 64 << 10

// maxContainers bounds the containers a timeline remembers positions of;
// the least recently active are forgotten first.
const maxContainers = 256

// ErrLocked is returned by Open when another process writes the store.
var ErrLocked = errors.New("logstore: another process is writing this log store")

// Store is the writer of a log store: it keeps lines and markers in one
// timeline per service, and the positions and generations a project
// follower resumes from. It implements logstream.History. One process
// writes a store at a time (a lock file sees to it); any number read it
// with a Reader, including this one through Query and Services.
type Store struct {
	cfg    Config
	masker atomic.Pointer[logstream.Masker]
	lock   *os.File
	reader *Reader

	mu    sync.RWMutex
	tls   map[string]*timeline // by timeline (service) name
	conts map[string]*timeline // container ID to the timeline that has it
	err   error                // the first write error, for Err

	stop      chan struct{}
	done      chan struct{}
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// Open opens (or creates) the store in cfg.Dir for writing, takes its
// lock, and recovers every timeline: a torn last record, left by a crash,
// is cut off, and a segment whose state never made it to disk is removed.
func Open(cfg Config) (*Store, error) {
	if cfg.Dir == "" {
		return nil, errors.New("logstore: no directory")
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.SegmentBytes <= 0 {
		cfg.SegmentBytes = cfg.MaxBytes / 16
	}
	cfg.SegmentBytes = max(cfg.SegmentBytes, MinSegmentBytes)
	if cfg.MaxBytes < 2*cfg.SegmentBytes {
		return nil, fmt.Errorf("logstore: a cap of %d bytes holds fewer than two segments of %d", cfg.MaxBytes, cfg.SegmentBytes)
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = 200 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if err := ownerOnlyDir(cfg.Dir); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(cfg.Dir, "writer.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("logstore: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (%s)", ErrLocked, cfg.Dir)
		}
		return nil, fmt.Errorf("logstore: lock %s: %w", cfg.Dir, err)
	}
	s := &Store{cfg: cfg, lock: lock, reader: &Reader{dir: cfg.Dir},
		tls: map[string]*timeline{}, conts: map[string]*timeline{}, stop: make(chan struct{}), done: make(chan struct{})}
	s.masker.Store(cfg.Masker)
	ents, err := os.ReadDir(cfg.Dir)
	if err != nil {
		s.unlock()
		return nil, fmt.Errorf("logstore: %w", err)
	}
	for _, e := range ents {
		if !e.IsDir() || !validName(e.Name()) {
			continue
		}
		tl := s.newTimeline(e.Name())
		if err := tl.recover(); err != nil {
			s.unlock()
			return nil, fmt.Errorf("logstore: recover %s: %w", e.Name(), err)
		}
		s.tls[tl.name] = tl
		for id := range tl.conts {
			s.conts[id] = tl
		}
	}
	go s.flusher()
	return s, nil
}

// ownerOnlyDir creates dir as 0700, or makes an existing one owner-only.
func ownerOnlyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("logstore: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("logstore: %w", err)
	}
	return nil
}

func (s *Store) unlock() {
	syscall.Flock(int(s.lock.Fd()), syscall.LOCK_UN)
	s.lock.Close()
}

// Close writes what is buffered, syncs it to disk and releases the lock.
// Appends after Close are dropped.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		<-s.done
		s.mu.Lock()
		defer s.mu.Unlock()
		var errs []error
		for _, tl := range s.tls {
			tl.mu.Lock()
			errs = append(errs, tl.close())
			tl.closed = true
			tl.mu.Unlock()
		}
		s.unlock()
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.cfg.Dir }

// SetMasker replaces the masker for what is written from now on, for when
// the wizard learns a new secret. What is on disk is not rewritten.
func (s *Store) SetMasker(m *logstream.Masker) { s.masker.Store(m) }

// Err returns the first error writing the store met, if any: a full disk,
// for instance. The store keeps trying with the following lines.
func (s *Store) Err() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.err
}

func (s *Store) fail(err error) {
	s.mu.Lock()
	first := s.err == nil
	if first {
		s.err = err
	}
	s.mu.Unlock()
	if first {
		s.cfg.Log.Warn("logstore: write failed; lines are lost until it works again", "err", err)
	}
}

// flusher writes buffered records every FlushEvery, so that readers see
// them and a crash loses little.
func (s *Store) flusher() {
	defer close(s.done)
	t := time.NewTicker(s.cfg.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Flush()
		}
	}
}

// Flush writes every buffered record to its file.
func (s *Store) Flush() error {
	s.mu.RLock()
	tls := make([]*timeline, 0, len(s.tls))
	for _, tl := range s.tls {
		tls = append(tls, tl)
	}
	s.mu.RUnlock()
	var errs []error
	for _, tl := range tls {
		tl.mu.Lock()
		if err := tl.flush(); err != nil {
			errs = append(errs, err)
		}
		tl.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Append keeps a line of the container with the given ID, or a marker,
// in its service's timeline, masking its text first, unless masked (the
// masker the caller put it through) is the store's own. It never blocks on
// anything but the disk; write errors are reported by Err.
func (s *Store) Append(id string, l logstream.Line, masked *logstream.Masker) {
	if s.closed.Load() {
		return
	}
	m := s.masker.Load()
	if masked != nil && masked == m {
		m = nil // done already: masking costs as much as the rest of the write
	}
	tl := s.timeline(timelineName(l))
	tl.mu.Lock()
	newCont, err := tl.append(id, &l, m)
	tl.mu.Unlock()
	if err != nil {
		s.fail(err)
	}
	if newCont {
		s.mu.Lock()
		s.conts[id] = tl
		s.mu.Unlock()
	}
}

// Position says how far the log of a container is kept: a follower
// resumes its stream there.
func (s *Store) Position(id string) (logstream.Position, bool) {
	s.mu.RLock()
	tl := s.conts[id]
	s.mu.RUnlock()
	if tl == nil {
		return logstream.Position{}, false
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	c := tl.conts[id]
	if c == nil {
		return logstream.Position{}, false
	}
	return c.pos, true
}

// Generation returns the container a replica of a service last ran.
func (s *Store) Generation(service string, number int) (logstream.Generation, bool) {
	s.mu.RLock()
	tl := s.tls[safeName(service)]
	s.mu.RUnlock()
	if tl == nil {
		return logstream.Generation{}, false
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	g, ok := tl.gens[number]
	return g, ok
}

// SetGeneration remembers the container a replica of a service runs now.
func (s *Store) SetGeneration(service string, number int, g logstream.Generation) {
	if s.closed.Load() {
		return
	}
	tl := s.timeline(safeName(service))
	tl.mu.Lock()
	err := tl.setGeneration(number, g)
	tl.mu.Unlock()
	if err != nil {
		s.fail(err)
	}
}

// Query flushes what is buffered and runs q; see Reader.Query.
func (s *Store) Query(q Query) (Result, error) {
	s.Flush()
	return s.reader.Query(q)
}

// Scan flushes what is buffered and runs q; see Reader.Scan.
func (s *Store) Scan(q Query, fn func(Record) error) error {
	s.Flush()
	return s.reader.Scan(q, fn)
}

// Services flushes what is buffered and describes every service; see
// Reader.Services.
func (s *Store) Services() ([]ServiceInfo, error) {
	s.Flush()
	return s.reader.Services()
}

func (s *Store) timeline(name string) *timeline {
	s.mu.RLock()
	tl := s.tls[name]
	s.mu.RUnlock()
	if tl != nil {
		return tl
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if tl = s.tls[name]; tl == nil {
		tl = s.newTimeline(name)
		s.tls[name] = tl
	}
	return tl
}

// timelineName is the timeline a line belongs to: its service's.
func timelineName(l logstream.Line) string {
	name := l.Service
	if name == "" {
		name = l.Container
	}
	return safeName(name)
}

// validName reports whether name can be a timeline directory as it is:
// a Compose service name ([A-Za-z0-9._-], not starting with a dot).
func validName(name string) bool {
	if name == "" || len(name) > 128 || name[0] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// safeName turns any service name into a valid timeline name.
func safeName(name string) string {
	if validName(name) {
		return name
	}
	b := []byte(name)
	if len(b) > 128 {
		b = b[:128]
	}
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	if b[0] == '.' {
		b[0] = '_'
	}
	return string(b)
}
