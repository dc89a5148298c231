package wizard

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestKeepOldFormat: the copy of a state in an older format is made once,
// owner-only, and a later copy never replaces the first.
func TestKeepOldFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s := NewFileStore(path, time.Now)
	if err := s.keepOldFormat([]byte(`{"schema": 1, "a": 1}`), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.keepOldFormat([]byte(`{"schema": 1, "a": 2}`), 1); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path + ".schema1")
	if err != nil || string(b) != `{"schema": 1, "a": 1}` {
		t.Errorf("kept %q, %v", b, err)
	}
	if fi, _ := os.Stat(path + ".schema1"); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %o", fi.Mode().Perm())
	}
}
