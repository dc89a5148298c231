package auth

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// ErrNoWizard is returned by OpenExisting when the state directory has no
// secrets yet: the wizard has never run there.
var ErrNoWizard = errors.New("auth: the wizard has not run in this state directory")

// OpenExisting opens the secrets of stateDir without creating or replacing
// anything, for commands that only look at or end sessions: unlike Open it
// never issues a token (which would end every session as a side effect).
func OpenExisting(stateDir string, now func() time.Time) (*Auth, error) {
	a := &Auth{dir: stateDir, now: now}
	if _, err := os.Stat(a.path()); errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoWizard
	} else if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if _, err := a.load(); err != nil {
		return nil, err
	}
	return a, nil
}
