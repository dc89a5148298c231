package logstore

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

const writerEnv = "LOGSTORE_TEST_WRITER_DIR"

// A cap well above what a writer writes before it is killed, and long lines
// written in one write(2) each, so that a kill often lands inside one.
var crashCfg = Config{MaxBytes: 96 << 20, SegmentBytes: 8 << 20, FlushEvery: time.Millisecond}

const (
	longEvery = 2
	longSize  = 1 << 20
)

// TestWriterProcess is the writer the crash test kills; it runs only as
// that test's child. Like the project follower after a restart, it resumes
// from the position the store kept, and writes numbered lines, every
// longEvery-th of them long, until it is killed.
func TestWriterProcess(t *testing.T) {
	dir := os.Getenv(writerEnv)
	if dir == "" {
		t.Skip("run by TestKilledWriter")
	}
	cfg := crashCfg
	cfg.Dir = dir
	s, err := Open(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	next := 0
	if pos, ok := s.Position("c1"); ok {
		next = int(pos[logstream.Stdout].TS.Sub(t0)/time.Microsecond) + 1
	}
	fmt.Println("ready", next)
	for i := next; ; i++ {
		text := fmt.Sprintf("seq=%d ", i)
		if i%longEvery == 0 {
			text += strings.Repeat("L", longSize+i%1000)
		}
		s.Append("c1", logstream.Line{Container: "p-api-1", Service: "api", Stream: logstream.Stdout,
			TS: t0.Add(time.Duration(i) * time.Microsecond), Text: text}, nil)
	}
}

// TestKilledWriter kills a writing process at random moments, many times
// over (until two kills have torn a record: about one in ten does), and checks during the writes and after each kill that a reader
// (this process) sees only whole records,
// that the next writer cuts off the torn one, and that, resuming from the
// position the store kept, the numbered lines stay gapless and unrepeated.
func TestKilledWriter(t *testing.T) {
	if os.Getenv(writerEnv) != "" {
		t.Skip("child")
	}
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "logs")
	torn, cycles := 0, 0
	for ; cycles < 100 && (cycles < 8 || torn < 2); cycles++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestWriterProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), writerEnv+"="+dir)
		// Should this test die first, the writer dies with it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var once sync.Once
		kill := func() { once.Do(func() { cmd.Process.Signal(syscall.SIGKILL); cmd.Wait() }) }
		t.Cleanup(kill)
		buf := make([]byte, 64)
		if n, err := out.Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "ready") {
			kill()
			t.Fatalf("writer did not start: %q, %v", buf[:n], err)
		}
		go io.Copy(io.Discard, out)
		// Let it write something new first: a slow start (under the race
		// detector, on a busy machine) must not make an empty cycle.
		next := 0
		fmt.Sscanf(string(buf), "ready %d", &next)
		testenv.WaitFor(t, "the writer's first lines", time.Minute, func() bool { return lastSeq(t, dir) >= next })
		time.Sleep(time.Duration(20+rand.IntN(150)) * time.Millisecond)
		if cycles%2 == 1 {
			checkGapless(t, dir, cycles) // while the writer writes
		}
		kill()

		if tornTail(t, filepath.Join(dir, "api")) {
			torn++
		}
		checkGapless(t, dir, cycles)
	}
	t.Logf("%d kills, %d of them left a torn record", cycles, torn)
	if torn == 0 {
		t.Errorf("no kill in %d tore a record: the test did not exercise recovery", cycles)
	}
	s, err := Open(Config{Dir: dir, MaxBytes: crashCfg.MaxBytes, SegmentBytes: crashCfg.SegmentBytes})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if tornTail(t, filepath.Join(dir, "api")) {
		t.Error("Open left a torn record in place")
	}
}

// lastSeq returns the number of the newest line a reader sees, -1 if none.
func lastSeq(t *testing.T, dir string) int {
	r, err := OpenReader(dir)
	if errors.Is(err, ErrNoStore) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Query(Query{Newest: true, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) == 0 {
		return -1
	}
	var seq int
	fmt.Sscanf(res.Records[0].Text, "seq=%d", &seq)
	return seq
}

// tornTail reports whether the last segment ends in something that is not
// a whole record.
func tornTail(t *testing.T, dir string) bool {
	segs, err := listSegments(dir)
	if err != nil || len(segs) == 0 {
		t.Fatalf("segments: %v, %v", segs, err)
	}
	last := segs[len(segs)-1]
	sr, err := openSegment(last.path)
	if errors.Is(err, errTorn) {
		return true
	}
	if err != nil {
		t.Fatal(err)
	}
	defer sr.close()
	for {
		if _, err := sr.next(); err != nil {
			if errors.Is(err, errTorn) {
				return true
			}
			return sr.off != last.size
		}
	}
}

// checkGapless reads the store as another process would and checks that
// the lines are numbered without hole or repeat, from 0 unless the cap
// has dropped the first segment.
func checkGapless(t *testing.T, dir string, cycle int) {
	t.Helper()
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	segs, err := listSegments(filepath.Join(dir, "api"))
	if err != nil {
		t.Fatal(err)
	}
	want, n := -1, 0
	if len(segs) > 0 && segs[0].seq == 1 {
		want = 0
	}
	err = r.Scan(Query{}, func(rec Record) error {
		var seq int
		if _, err := fmt.Sscanf(rec.Text, "seq=%d", &seq); err != nil {
			return fmt.Errorf("unexpected record %.40q", rec.Text)
		}
		if want >= 0 && seq != want {
			return fmt.Errorf("line %d where %d was due", seq, want)
		}
		if seq%longEvery == 0 && len(rec.Text) < longSize {
			return fmt.Errorf("line %d is %d bytes long, want the whole line", seq, len(rec.Text))
		}
		want = seq + 1
		n++
		return nil
	})
	if err != nil {
		t.Fatalf("after kill %d: %v", cycle+1, err)
	}
	if n == 0 {
		t.Fatalf("after kill %d: no line kept", cycle+1)
	}
}
