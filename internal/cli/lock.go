package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/carto-setup/carto-setup/internal/statelock"
	"github.com/carto-setup/carto-setup/internal/steps"
)

// waitFlag registers --wait, how long a command that writes the release
// waits for another install to finish before it gives up.
func waitFlag(fs *flag.FlagSet, wait *time.Duration) {
	fs.DurationVar(wait, "wait", 0, "when another install holds the state directory, wait this long for it (0: refuse at once)")
}

// lockInstall takes the state directory's install lock for command, or
// says on stderr who holds it and since when and returns exit status 1.
func lockInstall(ctx context.Context, env Env, name, stateDir, command string, wait time.Duration) (*steps.InstallLock, error) {
	lock, err := steps.LockInstall(ctx, stateDir, command, wait, env.Now)
	var busy *statelock.BusyError
	if errors.As(err, &busy) {
		how := "pass --wait DURATION to wait for it"
		if wait > 0 {
			how = fmt.Sprintf("waited %s", wait)
		}
		fmt.Fprintf(env.Stderr, "%s: nothing was changed: %s (%s)\n", name, busy.Error(), how)
		return nil, ExitFailed
	}
	return lock, err
}
