package statelock

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childEnv makes the test binary act as another carto-setup process:
// "hold DIR COMMAND" takes the lock, prints "locked", and keeps it until
// its stdin closes; "count DIR N" increments a counter file N times, each
// time under the lock, with a pause between read and write.
const childEnv = "CARTO_SETUP_STATELOCK_CHILD"

func TestChildProcess(t *testing.T) {
	args := strings.Fields(os.Getenv(childEnv))
	if len(args) < 3 {
		t.Skip("run only as a child process")
	}
	dir := args[1]
	switch args[0] {
	case "hold":
		l, err := TryAcquire(dir, Self(strings.Join(args[2:], " "), time.Now()))
		if err != nil {
			fmt.Println("busy:", err)
			os.Exit(3)
		}
		fmt.Println("locked")
		io.Copy(io.Discard, os.Stdin)
		if err := l.Release(); err != nil {
			os.Exit(2)
		}
	case "count":
		n, _ := strconv.Atoi(args[2])
		path := filepath.Join(dir, "counter")
		for range n {
			l, err := Acquire(context.Background(), dir, Self("carto-setup count", time.Now()), time.Millisecond)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			b, _ := os.ReadFile(path)
			v, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			time.Sleep(200 * time.Microsecond) // widen the window a race would need
			os.WriteFile(path, []byte(strconv.Itoa(v+1)), 0o600)
			l.Release()
		}
	}
	os.Exit(0)
}

// holder is a child process holding the lock.
type holder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

func startHolder(t *testing.T, dir, command string) *holder {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildProcess$")
	cmd.Env = append(os.Environ(), childEnv+"=hold "+dir+" "+command)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("holder did not take the lock: %q %v", line, err)
	}
	return &holder{cmd: cmd, stdin: stdin}
}

func TestBusyNamesTheHolderOfAnotherProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	before := time.Now().Add(-time.Second)
	h := startHolder(t, dir, "carto-setup apply")

	_, err := TryAcquire(dir, Self("carto-setup", time.Now()))
	var busy *BusyError
	if !errors.As(err, &busy) || !errors.Is(err, ErrBusy) || !busy.Known {
		t.Fatalf("TryAcquire while held: %v", err)
	}
	host, _ := os.Hostname()
	if busy.Holder.PID != h.cmd.Process.Pid || busy.Holder.Command != "carto-setup apply" || busy.Holder.Host != host || busy.Holder.Since.Before(before) {
		t.Fatalf("holder %+v, want pid %d running carto-setup apply", busy.Holder, h.cmd.Process.Pid)
	}
	want := fmt.Sprintf("the state directory is held by `carto-setup apply` (pid %d on %s) since ", h.cmd.Process.Pid, host)
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("message %q lacks %q", err, want)
	}
	if got, ok, err := Holding(dir); err != nil || !ok || got.PID != h.cmd.Process.Pid {
		t.Fatalf("Holding = %+v %v %v", got, ok, err)
	}

	// Waiting with a deadline gives up with the holder named.
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, err = Acquire(ctx, dir, Self("carto-setup", time.Now()), 10*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &busy) || busy.Holder.PID != h.cmd.Process.Pid {
		t.Fatalf("Acquire with a deadline: %v", err)
	}

	// A waiter gets the lock once the holder releases it, and the record
	// of a clean release is not stale.
	got := make(chan error, 1)
	var l *Lock
	go func() {
		var err error
		l, err = Acquire(context.Background(), dir, Self("carto-setup upgrade", time.Now()), 10*time.Millisecond)
		got <- err
	}()
	h.stdin.Close()
	if err := <-got; err != nil {
		t.Fatalf("Acquire after release: %v", err)
	}
	if err := h.cmd.Wait(); err != nil {
		t.Fatalf("holder: %v", err)
	}
	if s, ok := l.Stale(); ok {
		t.Fatalf("a clean release left a stale record: %+v", s)
	}
	if got, ok, _ := Holding(dir); !ok || got.Command != "carto-setup upgrade" || got.PID != os.Getpid() {
		t.Fatalf("Holding after taking over = %+v %v", got, ok)
	}
	l.Release()
	if _, ok, _ := Holding(dir); ok {
		t.Fatal("held after Release")
	}
}

func TestKilledHolderIsRecognisedAsStale(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := startHolder(t, dir, "carto-setup")
	pid := h.cmd.Process.Pid
	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.cmd.Wait()
	// The record is still on disk, but nobody holds the lock.
	if _, err := os.Stat(filepath.Join(dir, HolderFile)); err != nil {
		t.Fatalf("test premise: the killed holder's record should remain: %v", err)
	}
	if _, ok, _ := Holding(dir); ok {
		t.Fatal("a dead process still holds the lock")
	}
	l, err := TryAcquire(dir, Self("carto-setup apply", time.Now()))
	if err != nil {
		t.Fatalf("TryAcquire after the holder died: %v", err)
	}
	defer l.Release()
	s, ok := l.Stale()
	if !ok || s.PID != pid || s.Command != "carto-setup" {
		t.Fatalf("Stale = %+v %v, want the killed wizard (pid %d)", s, ok, pid)
	}
}

// TestExclusiveAcrossProcesses has four processes increment one counter
// file under the lock with a pause between read and write: any overlap
// loses an increment.
func TestExclusiveAcrossProcesses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const procs, each = 4, 50
	var cmds []*exec.Cmd
	for range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestChildProcess$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=count %s %d", childEnv, dir, each))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("counter process: %v", err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "counter"))
	if got := strings.TrimSpace(string(b)); got != strconv.Itoa(procs*each) {
		t.Fatalf("counter = %s, want %d: two processes held the lock at once", got, procs*each)
	}
	if _, ok, _ := Holding(dir); ok {
		t.Fatal("lock still held after every process released it")
	}
}

func TestReleaseTwiceAndBadDir(t *testing.T) {
	t.Parallel()
	l, err := TryAcquire(t.TempDir(), Self("x", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	if _, err := TryAcquire(filepath.Join(t.TempDir(), "missing"), Self("x", time.Now())); err == nil || errors.Is(err, ErrBusy) {
		t.Fatalf("missing dir: %v", err)
	}
}
