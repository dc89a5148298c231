package wizard

import "sync"

// MemStore is a Store that keeps the state in memory: a headless command
// runs the steps on it, and tests use it where no file is needed.
type MemStore struct {
	mu sync.Mutex
	st State
}

// NewMemStore returns a store holding st.
func NewMemStore(st State) *MemStore {
	if st.Done == nil {
		st.Done = map[Step]bool{}
	}
	if st.Schema == 0 {
		st.Schema = SchemaVersion
	}
	return &MemStore{st: st}
}

// Load returns a copy of the state.
func (m *MemStore) Load() (State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.clone(), nil
}

// Update applies fn to a copy and keeps it unless fn fails.
func (m *MemStore) Update(fn func(*State) error) (State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := m.st.clone()
	if err := fn(&next); err != nil {
		return State{}, err
	}
	next.Revision++
	m.st = next
	return next.clone(), nil
}

// clone copies the maps and slices, so a caller's changes never reach the
// stored state behind the store's back.
func (st State) clone() State {
	out := st
	out.Done = make(map[Step]bool, len(st.Done))
	for k, v := range st.Done {
		out.Done[k] = v
	}
	if st.Checks != nil {
		out.Checks = make(map[Step]CheckRun, len(st.Checks))
		for k, v := range st.Checks {
			v.Results = append([]StoredResult(nil), v.Results...)
			out.Checks[k] = v
		}
	}
	out.Overrides = append([]Override(nil), st.Overrides...)
	if st.LastInstall.Inputs != nil {
		out.LastInstall.Inputs = make(map[Step]string, len(st.LastInstall.Inputs))
		for k, v := range st.LastInstall.Inputs {
			out.LastInstall.Inputs[k] = v
		}
	}
	return out
}
