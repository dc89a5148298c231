package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/carto-setup/carto-setup/internal/compose"
)

// DownUsage documents `carto-setup down`.
const DownUsage = `  carto-setup down [--dir DIR] [--project NAME] [--demo [--purge]]
        stop the installed stack (docker-compose down; its files and volumes are
        kept, and carto-setup apply or the wizard's install starts it again); with
        --demo also the demo's PostgreSQL; --demo --purge removes the demo for
        good: its stack with volumes, images, PostgreSQL and state directory
`

// Down is `carto-setup down`: the stack stops, and with --demo the demo's
// own PostgreSQL (Wiring.StopDemo), which --purge removes with the rest of
// the demo.
func Down(ctx context.Context, env Env, args []string) error {
	var purge bool
	cfg, rest, err := parse("carto-setup down", DownUsage, args, env.Getenv, env.Stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&purge, "purge", false, "with --demo: remove the demo's stack volumes, images, PostgreSQL and state directory")
	})
	if err != nil {
		return err
	}
	if err := noArgs("carto-setup down", rest, env.Stderr); err != nil {
		return err
	}
	if purge && !cfg.Demo {
		fmt.Fprintln(env.Stderr, "carto-setup down: --purge removes a demo and needs --demo; a real install's data is never removed by carto-setup")
		return ExitInvalid
	}
	log, secrets := consoleLogger(env, slog.LevelWarn)
	w, err := env.Wire(ctx, cfg, log, WireOptions{Output: env.Stderr})
	if err != nil {
		return err
	}
	defer w.Close()
	cfg = w.Config
	secrets.Watch(cfg.StatePath())
	var errs []error
	if _, err := os.Stat(filepath.Join(cfg.Dir, ".env")); err == nil {
		tool, err := compose.Detect(ctx, exec.LookPath, compose.Exec)
		if err != nil {
			errs = append(errs, fmt.Errorf("docker compose was not found: %w", err))
		} else {
			fmt.Fprintf(env.Stderr, "Stopping the stack %s in %s.\n", cfg.Project, cfg.Dir)
			down := compose.Down
			if purge {
				down = compose.DownVolumes
			}
			if err := down(ctx, tool, cfg.Dir, cfg.Project, env.Stderr); err != nil {
				errs = append(errs, err)
			}
		}
	} else {
		fmt.Fprintf(env.Stderr, "Nothing is installed in %s: no stack to stop.\n", cfg.Dir)
	}
	if w.StopDemo != nil {
		if err := w.StopDemo(ctx, purge); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(env.Stderr, "carto-setup down:", err)
		return ExitFailed
	}
	fmt.Fprintln(env.Stdout, "Stopped.")
	return nil
}
