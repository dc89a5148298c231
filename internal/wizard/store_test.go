package wizard

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestFileStoreRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s := NewFileStore(path, time.Now)
	st, err := s.Load()
	if err != nil || st.Revision != 0 || len(st.Done) != 0 {
		t.Fatalf("empty store: %+v, %v", st, err)
	}
	if _, err := s.Update(func(st *State) error {
		st.Domain.Domain = "carto.example.com"
		st.MarkDone(Preflight)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A second store on the same file (a restarted wizard) sees the same.
	st, err = NewFileStore(path, time.Now).Load()
	if err != nil {
		t.Fatal(err)
	}
	if st.Domain.Domain != "carto.example.com" || !st.Done[Preflight] || st.Revision != 1 {
		t.Fatalf("reloaded state = %+v", st)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("state mode %v, want 0600", fi.Mode().Perm())
	}
	if FirstIncomplete(st) != Package {
		t.Fatalf("FirstIncomplete = %s, want package", FirstIncomplete(st))
	}
}

func TestFileStoreUpdateErrorSavesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s := NewFileStore(path, time.Now)
	s.Update(func(st *State) error { st.Domain.Domain = "kept.example.com"; return nil })
	if _, err := s.Update(func(st *State) error { st.Domain.Domain = "lost"; return fmt.Errorf("no") }); err == nil {
		t.Fatal("want the error back")
	}
	st, _ := s.Load()
	if st.Domain.Domain != "kept.example.com" {
		t.Fatalf("failed update changed state: %q", st.Domain.Domain)
	}
}

func TestFileStoreRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	os.WriteFile(path, []byte(`{"schema": 99}`), 0o600)
	if _, err := NewFileStore(path, time.Now).Load(); err == nil || !strings.Contains(err.Error(), "newer carto-setup") {
		t.Fatalf("err = %v, want a newer-schema error", err)
	}
}

func TestFileStoreConcurrentUpdates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s := NewFileStore(path, time.Now)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Update(func(st *State) error {
				st.AddOverride(Override{Check: fmt.Sprintf("c%d", i), Reason: "r"})
				return nil
			})
		}()
	}
	wg.Wait()
	st, err := NewFileStore(path, time.Now).Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Overrides) != 20 || st.Revision != 20 {
		t.Fatalf("lost updates: %d overrides, revision %d", len(st.Overrides), st.Revision)
	}
}

// consistent checks the invariant the crash child keeps: the domain names
// the revision it was saved with.
func consistent(st State) bool {
	return st.Revision == 0 || st.Domain.Domain == fmt.Sprintf("rev%d.example.com", st.Revision)
}

// TestCrashDuringSaves kills a process that saves in a loop with SIGKILL at
// random moments, many times: the state must always load and be consistent.
func TestCrashDuringSaves(t *testing.T) {
	if path := os.Getenv("CARTO_SETUP_CRASH_CHILD"); path != "" {
		s := NewFileStore(path, time.Now)
		pad := strings.Repeat("x", 64<<10) // big enough that a write is not one page
		for {
			s.Update(func(st *State) error {
				st.Domain.Domain = fmt.Sprintf("rev%d.example.com", st.Revision+1)
				st.AddOverride(Override{Check: "pad", Reason: pad})
				return nil
			})
		}
	}
	path := filepath.Join(t.TempDir(), "state.json")
	lastRev := int64(-1)
	for i := range 40 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDuringSaves$")
		cmd.Env = append(os.Environ(), "CARTO_SETUP_CRASH_CHILD="+path)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(5+rand.IntN(60)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		st, err := NewFileStore(path, time.Now).Load()
		if err != nil {
			t.Fatalf("kill %d: state unreadable: %v", i, err)
		}
		if !consistent(st) {
			t.Fatalf("kill %d: torn state: revision %d, domain %q", i, st.Revision, st.Domain.Domain)
		}
		if st.Revision < lastRev {
			t.Fatalf("kill %d: revision went back from %d to %d", i, lastRev, st.Revision)
		}
		lastRev = st.Revision
	}
	if lastRev <= 0 {
		t.Fatalf("the child never saved (revision %d): the test proved nothing", lastRev)
	}
	t.Logf("survived 40 kills; %d saves in all", lastRev)
}

func TestReachable(t *testing.T) {
	st := State{Done: map[Step]bool{Preflight: true, Package: true}}
	for _, tc := range []struct {
		step Step
		want bool
	}{{Preflight, true}, {Package, true}, {Domain, true}, {Database, false}, {Smoke, false}} {
		if got := Reachable(st, tc.step); got != tc.want {
			t.Errorf("Reachable(%s) = %v, want %v", tc.step, got, tc.want)
		}
	}
	if Next(Preflight) != Package || Next(Smoke) != "" {
		t.Error("Next is wrong")
	}
}
