package app

import (
	"context"
	"errors"
	"io"
	"strconv"

	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/installsh"
)

// hostTools measures Docker and Compose on this host for `carto-setup env`:
// the engine's own version through the API, and whichever Compose the
// host has (the standalone binary or the plugin).
type hostTools struct{}

func (hostTools) Docker(ctx context.Context) (string, error) {
	eng, err := engine.New(ctx)
	if err != nil {
		return "", err
	}
	defer eng.Close()
	v, err := eng.Version(ctx)
	return v.Version, err
}

func (hostTools) Compose(ctx context.Context) (string, error) {
	tool, err := compose.Detect(ctx, execLookPath, compose.Exec)
	if tool.Version.Raw != "" {
		return tool.Version.Raw, nil // an old version still reports what it is
	}
	if err == nil {
		err = errors.New("docker compose: no version reported")
	}
	return "", err
}

// runEnv is `carto-setup env --dir DIR [--ignore-checks]`: what
// `bash install.sh` does, with its warnings as real failures.
func runEnv(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if code := installsh.RunEnvCommand(ctx, args, stdout, stderr, hostTools{}); code != 0 {
		return exitError(code)
	}
	return nil
}

// exitError carries a process exit status for main.
type exitError int

func (e exitError) Error() string { return "exit status " + itoa(int(e)) }

// ExitCode returns the status the process should exit with.
func (e exitError) ExitCode() int { return int(e) }

func itoa(n int) string { return strconv.Itoa(n) }
