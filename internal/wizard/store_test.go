package wizard

import (
	"bufio"
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

// TestCrashDuringSaves kills a process that saves in a loop with SIGKILL,
// hundreds of times, each time only after the child has said it is inside a
// save: the state must always load, be consistent and never go back, and the
// temporary files that the interrupted saves leave must be found and removed.
// A kill that leaves a temporary file landed mid-write; the test asserts that
// most did, so it cannot pass by killing only between saves.
func TestCrashDuringSaves(t *testing.T) {
	if path := os.Getenv("CARTO_SETUP_CRASH_CHILD"); path != "" {
		crashChild(path)
		return
	}
	t.Parallel()
	kills := 200
	if testing.Short() {
		kills = 40
	}
	path := filepath.Join(t.TempDir(), "state.json")
	lastRev := int64(-1)
	midWrite := 0
	for i := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDuringSaves$")
		cmd.Env = append(os.Environ(), "CARTO_SETUP_CRASH_CHILD="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait for the child to report that it is inside a save (skipping
		// zero to two of them), then kill it as soon as that save's
		// temporary file exists: somewhere between its creation and its
		// rename, wherever the polling happens to see it.
		lines := bufio.NewScanner(out)
		skip := rand.IntN(3)
		killed := false
		for !killed && lines.Scan() {
			if lines.Text() != "saving" {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			if waitForTemp(path, 50*time.Millisecond) {
				cmd.Process.Signal(syscall.SIGKILL)
				killed = true
			}
		}
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("kill %d: the child stopped saving (%v)", i, lines.Err())
		}
		cmd.Wait()

		store := NewFileStore(path, time.Now)
		n, err := store.RemoveStaleTemps()
		if err != nil {
			t.Fatalf("kill %d: %v", i, err)
		}
		if n > 0 {
			midWrite++
		}
		if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp-*")); len(left) > 0 {
			t.Fatalf("kill %d: temps left after RemoveStaleTemps: %v", i, left)
		}
		st, err := store.Load()
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
		t.Fatalf("no save ever completed (revision %d): the test proved nothing", lastRev)
	}
	if midWrite < kills/2 {
		t.Fatalf("only %d of %d kills landed mid-write (left a temporary file): the test proves too little", midWrite, kills)
	}
	t.Logf("survived %d kills, %d of them mid-write; %d saves completed", kills, midWrite, lastRev)
}

// waitForTemp polls for a temporary file of a save beside path.
func waitForTemp(path string, limit time.Duration) bool {
	pattern := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	for end := time.Now().Add(limit); time.Now().Before(end); {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return true
		}
	}
	return false
}

// crashChild saves in a loop until it is killed. It prints "saving" from
// inside each update, just before the store encodes and writes the file, so
// the parent knows a write is under way. The state spans several pages, so
// a torn write would show, yet is small enough that encoding it is quick
// and the write and its fsync take most of the time after "saving".
func crashChild(path string) {
	s := NewFileStore(path, time.Now)
	pad := strings.Repeat("x", 16<<10)
	for {
		s.Update(func(st *State) error {
			st.Domain.Domain = fmt.Sprintf("rev%d.example.com", st.Revision+1)
			st.AddOverride(Override{Check: "pad", Reason: pad})
			os.Stdout.WriteString("saving\n")
			return nil
		})
	}
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
