package statelock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
)

// File names in the state directory. The lock file is never removed: an
// flock lives on an inode, and a removed-and-recreated file would let two
// processes each hold "the" lock.
const (
	LockFile   = "install.lock"
	HolderFile = "install.lock.json"
)

// Holder is who holds the lock: what a busy lock reports.
type Holder struct {
	Command string    `json:"command"` // e.g. "carto-setup apply"
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Since   time.Time `json:"since"`
}

// Self describes this process running command, from now on.
func Self(command string, now time.Time) Holder {
	host, _ := os.Hostname()
	return Holder{Command: command, PID: os.Getpid(), Host: host, Since: now}
}

// String reads like "`carto-setup apply` (pid 1234 on vm1) since 10:02:03".
func (h Holder) String() string {
	when := h.Since.Local().Format(time.TimeOnly)
	if time.Since(h.Since) > 24*time.Hour {
		when = h.Since.Local().Format(time.DateTime)
	}
	return fmt.Sprintf("`%s` (pid %d on %s) since %s", h.Command, h.PID, h.Host, when)
}

// ErrBusy is what a *BusyError matches with errors.Is.
var ErrBusy = errors.New("statelock: the state directory is in use")

// BusyError says that another process holds the lock. Known is false when
// the holder has not recorded itself yet (it has just taken the lock).
type BusyError struct {
	Holder Holder
	Known  bool
	// Err is the context's error when Acquire gave up waiting.
	Err error
}

func (e *BusyError) Error() string {
	who := "another carto-setup process (it is just starting)"
	if e.Known {
		who = e.Holder.String()
	}
	msg := "another install is running: the state directory is held by " + who
	if e.Err != nil {
		msg += " (stopped waiting: " + e.Err.Error() + ")"
	}
	return msg
}

// Is makes errors.Is(err, ErrBusy) true, and errors.Is(err,
// context.DeadlineExceeded) true for a wait that timed out.
func (e *BusyError) Is(target error) bool {
	return target == ErrBusy || (e.Err != nil && errors.Is(e.Err, target))
}

// Lock is a held lock. Release it when the install is done; if the process
// dies first, the kernel releases it.
type Lock struct {
	f     *os.File
	dir   string
	stale *Holder
}

// Stale returns the record a previous holder left when it died without
// releasing the lock (a killed wizard, say): what the new holder may need
// to clean up after, such as its Compose process.
func (l *Lock) Stale() (Holder, bool) {
	if l.stale == nil {
		return Holder{}, false
	}
	return *l.stale, true
}

// Release removes the holder record and drops the lock. It is safe to call
// more than once.
func (l *Lock) Release() error {
	if l.f == nil {
		return nil
	}
	err := os.Remove(filepath.Join(l.dir, HolderFile))
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	if cerr := l.f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	l.f = nil
	if err != nil {
		return fmt.Errorf("statelock: release: %w", err)
	}
	return nil
}

// TryAcquire takes the lock on dir for me, or returns a *BusyError that
// names the holder.
func TryAcquire(dir string, me Holder) (*Lock, error) {
	// A holder that has just taken the lock may not have written its
	// record yet; look again briefly before reporting an unknown holder.
	var busy *BusyError
	for attempt := 0; attempt < 5; attempt++ {
		l, err := tryOnce(dir, me)
		if !errors.As(err, &busy) || busy.Known {
			return l, err
		}
		time.Sleep(time.Duration(attempt+1) * 10 * time.Millisecond)
	}
	return nil, busy
}

// Acquire waits until it can take the lock on dir for me, checking every
// poll (0 means 250 ms), or until ctx is done; then it returns a *BusyError
// wrapping the context's error.
func Acquire(ctx context.Context, dir string, me Holder, poll time.Duration) (*Lock, error) {
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	for {
		l, err := tryOnce(dir, me)
		var busy *BusyError
		if !errors.As(err, &busy) {
			return l, err
		}
		select {
		case <-ctx.Done():
			if !busy.Known {
				busy, _ = holderNow(dir)
			}
			busy.Err = ctx.Err()
			return nil, busy
		case <-time.After(poll):
		}
	}
}

func tryOnce(dir string, me Holder) (*Lock, error) {
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("statelock: open: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			busy, _ := holderNow(dir)
			return nil, busy
		}
		return nil, fmt.Errorf("statelock: lock: %w", err)
	}
	l := &Lock{f: f, dir: dir}
	if prev, ok := readHolder(dir); ok {
		// We hold the lock, so whoever wrote this is gone.
		l.stale = &prev
	}
	b, _ := json.Marshal(me)
	if err := atomicfile.WriteFile(filepath.Join(dir, HolderFile), b, 0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("statelock: record holder: %w", err)
	}
	return l, nil
}

// holderNow describes the current holder from its record. A record whose
// process is gone belongs to an earlier holder, not the current one.
func holderNow(dir string) (*BusyError, bool) {
	h, ok := readHolder(dir)
	if !ok || !alive(h) {
		return &BusyError{}, false
	}
	return &BusyError{Holder: h, Known: true}, true
}

func readHolder(dir string) (Holder, bool) {
	b, err := os.ReadFile(filepath.Join(dir, HolderFile))
	if err != nil {
		return Holder{}, false
	}
	var h Holder
	if json.Unmarshal(b, &h) != nil || h.PID <= 0 {
		return Holder{}, false
	}
	return h, true
}

// alive reports whether the recorded process may still run: on another
// host it cannot be checked, so it is believed.
func alive(h Holder) bool {
	if host, _ := os.Hostname(); h.Host != host {
		return true
	}
	err := syscall.Kill(h.PID, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Holding reports who holds the lock on dir now, without waiting; ok is
// false when nobody does. For status pages: to install, call TryAcquire.
func Holding(dir string) (h Holder, ok bool, err error) {
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return Holder{}, false, fmt.Errorf("statelock: open: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		return Holder{}, false, nil // free (closing f drops the probe)
	} else if !errors.Is(err, syscall.EWOULDBLOCK) {
		return Holder{}, false, fmt.Errorf("statelock: probe: %w", err)
	}
	busy, _ := holderNow(dir)
	return busy.Holder, true, nil
}
