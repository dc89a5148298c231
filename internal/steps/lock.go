package steps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/statelock"
)

// Who holds the install lock, as the other process reports it.
const (
	HolderWizard = "carto-setup (wizard install)"
	HolderApply  = "carto-setup apply"
	HolderRenew  = "carto-setup renew"
)

// leftoverGrace is how long a leftover Compose process gets to stop on
// SIGTERM before it is killed.
const leftoverGrace = 15 * time.Second

// InstallLock is the state directory's install lock held by this process:
// one install (or renewal, upgrade, restore) at a time writes the release's
// files or runs Compose, across processes.
type InstallLock struct {
	lock    *statelock.Lock
	procDir string
}

// LockInstall takes the install lock of stateDir for command. When another
// process holds it, it waits up to wait (0: not at all) and then returns a
// *statelock.BusyError that names the holder and since when.
func LockInstall(ctx context.Context, stateDir, command string, wait time.Duration, now func() time.Time) (*InstallLock, error) {
	me := statelock.Self(command, now())
	var l *statelock.Lock
	var err error
	if wait <= 0 {
		l, err = statelock.TryAcquire(stateDir, me)
	} else {
		wctx, cancel := context.WithTimeout(ctx, wait)
		l, err = statelock.Acquire(wctx, stateDir, me, 0)
		cancel()
	}
	if err != nil {
		return nil, err
	}
	return &InstallLock{lock: l, procDir: compose.ProcDir}, nil
}

// Release gives the lock up.
func (l *InstallLock) Release() error {
	if l == nil {
		return nil
	}
	return l.lock.Release()
}

// StopLeftovers runs once the lock is held, before anything is written or
// Compose started: it says when the previous holder died holding the lock,
// and stops every Compose process of project that still changes the stack
// (a wizard killed mid-install leaves its `docker-compose up` running: two
// of them on one project fight). Compose stops its own work on SIGTERM; the
// containers it already started are taken over by the next `up`. Processes
// that only look (`logs -f`, `ps`) are left alone.
func (l *InstallLock) StopLeftovers(ctx context.Context, project string, out io.Writer) error {
	if prev, ok := l.lock.Stale(); ok {
		fmt.Fprintf(out, "The previous install by %s was interrupted; carrying on from where it left the files.\n", prev)
	}
	procs, err := compose.FindProcesses(l.procDir, project)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range procs {
		if !p.Changes() {
			continue
		}
		fmt.Fprintf(out, "Stopping a Compose process left running on project %s by an earlier install: %s.\n", project, p)
		if err := compose.StopProcess(ctx, l.procDir, p, leftoverGrace); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("a Compose process of an earlier install could not be stopped: %w", err)
	}
	return nil
}
