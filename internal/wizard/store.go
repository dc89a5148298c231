package wizard

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
	"github.com/carto-setup/carto-setup/migrations"
)

// Store keeps the wizard state. The server depends on this interface so
// handler tests can use an in-memory store.
type Store interface {
	// Load returns the current state.
	Load() (State, error)
	// Update applies fn to the current state and saves the result
	// atomically; if fn returns an error nothing is saved.
	Update(fn func(*State) error) (State, error)
}

// FileStore is a Store backed by one JSON file, written with temp file,
// fsync, rename and directory fsync, so a crash at any moment leaves either
// the old or the new state on disk. A mutex serialises updates within the
// process; only one wizard process runs per state directory.
type FileStore struct {
	path string
	now  func() time.Time
	mu   sync.Mutex
}

// NewFileStore returns a store for the file at path.
func NewFileStore(path string, now func() time.Time) *FileStore {
	return &FileStore{path: path, now: now}
}

// RemoveStaleTemps deletes the temporary files that saves interrupted by a
// crash left beside the state file. Each is a complete or partial copy of
// the state, secrets included, that nothing would ever read again. Call it
// at start, before this process saves: a save in progress owns its own.
// It returns how many it removed.
func (s *FileStore) RemoveStaleTemps() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	temps, err := filepath.Glob(filepath.Join(filepath.Dir(s.path), "."+filepath.Base(s.path)+".tmp-*"))
	if err != nil {
		return 0, fmt.Errorf("wizard: list stale temps: %w", err)
	}
	n := 0
	for _, t := range temps {
		if err := os.Remove(t); err != nil && !errors.Is(err, os.ErrNotExist) {
			return n, fmt.Errorf("wizard: remove stale temp: %w", err)
		}
		n++
	}
	return n, nil
}

// Load reads the state; a missing file is an empty state.
func (s *FileStore) Load() (State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.load()
}

func (s *FileStore) load() (State, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return State{Schema: SchemaVersion, Done: map[Step]bool{}}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("wizard: read state: %w", err)
	}
	// A state written by an older carto-setup is brought to this one's
	// format in memory; the file itself is rewritten only by the next
	// save, after a copy of it is kept. A newer one is refused untouched.
	migrated, from, err := migrations.Apply(b)
	var newer *migrations.NewerError
	if errors.As(err, &newer) {
		return State{}, fmt.Errorf("wizard: state %s has schema %d, this carto-setup reads up to %d: use a newer carto-setup; the file is left as it is",
			s.path, newer.Schema, newer.Latest)
	}
	if err != nil {
		return State{}, fmt.Errorf("wizard: state %s: %w", s.path, err)
	}
	if from < SchemaVersion {
		if err := s.keepOldFormat(b, from); err != nil {
			return State{}, err
		}
	}
	var st State
	if err := json.Unmarshal(migrated, &st); err != nil {
		return State{}, fmt.Errorf("wizard: decode state %s: %w", s.path, err)
	}
	if st.Done == nil {
		st.Done = map[Step]bool{}
	}
	st.Schema = SchemaVersion
	return st, nil
}

// keepOldFormat keeps the state as an older carto-setup wrote it, once, as
// <state>.schema<N>, before a save replaces it: a way back to that
// carto-setup.
func (s *FileStore) keepOldFormat(b []byte, schema int) error {
	path := fmt.Sprintf("%s.schema%d", s.path, schema)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := atomicfile.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("wizard: keep the state of schema %d: %w", schema, err)
	}
	return nil
}

// Update applies fn and saves the result.
func (s *FileStore) Update(fn func(*State) error) (State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.load()
	if err != nil {
		return State{}, err
	}
	if err := fn(&st); err != nil {
		return State{}, err
	}
	// fn may replace the state whole (apply does): whatever it holds, the
	// file is written in this carto-setup's format.
	st.Schema = SchemaVersion
	st.Revision++
	st.UpdatedAt = s.now().UTC()
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return State{}, fmt.Errorf("wizard: encode state: %w", err)
	}
	if err := atomicfile.WriteFile(s.path, b, 0o600); err != nil {
		return State{}, fmt.Errorf("wizard: save state: %w", err)
	}
	return st, nil
}
