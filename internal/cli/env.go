package cli

import (
	"context"
	"errors"
	"os/exec"

	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/installsh"
)

// EnvUsage documents `carto-setup env`.
const EnvUsage = `  carto-setup env --dir DIR [--ignore-checks]
        generate .env as install.sh does, with its warnings as real failures
`

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
	tool, err := compose.Detect(ctx, exec.LookPath, compose.Exec)
	if tool.Version.Raw != "" {
		return tool.Version.Raw, nil // an old version still reports what it is
	}
	if err == nil {
		err = errors.New("docker compose: no version reported")
	}
	return "", err
}

// ComposeCommand names the Compose the host has as the admin types it:
// "docker-compose" for the standalone binary, "docker compose" for the
// plugin (installsh.ComposeNamer), so that env's last line tells the admin
// a command that exists here.
func (hostTools) ComposeCommand(ctx context.Context) (string, error) {
	tool, err := compose.Detect(ctx, exec.LookPath, compose.Exec)
	if err != nil {
		return "", err
	}
	if tool.Flavor == compose.Plugin {
		return "docker compose", nil
	}
	return "docker-compose", nil
}

// EnvCommand is `carto-setup env --dir DIR [--ignore-checks]`: what
// `bash install.sh` does, with its warnings as real failures.
func EnvCommand(ctx context.Context, env Env, args []string) error {
	if code := installsh.RunEnvCommand(ctx, args, env.Stdout, env.Stderr, hostTools{}); code != 0 {
		return ExitError(code)
	}
	return nil
}
