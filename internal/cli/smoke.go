package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// SmokeUsage documents `carto-setup smoke`.
const SmokeUsage = `  carto-setup smoke [--json] [--dir DIR] [--state-dir DIR] [--project NAME]
        run the wizard's smoke test against what is installed (the release's
        .env and certs/, the running containers), from a shell or a timer; the
        result is kept as the wizard's last smoke test; exit 0 only when no
        check failed or could not run (warnings are printed), 1 otherwise
`

// Smoke is `carto-setup smoke [--json]`: the smoke test the wizard runs,
// in the foreground, against the install on this VM. Its results replace
// the wizard's last smoke-test run, which the Status page shows.
func Smoke(ctx context.Context, env Env, args []string) error {
	var asJSON bool
	cfg, rest, err := parse("carto-setup smoke", SmokeUsage, args, env.Getenv, env.Stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, `print {"checks": [...]} as JSON instead of a table`)
	})
	if err != nil {
		return err
	}
	if err := noArgs("carto-setup smoke", rest, env.Stderr); err != nil {
		return err
	}
	log, secrets := consoleLogger(env, slog.LevelWarn)
	w, err := env.Wire(ctx, cfg, log, WireOptions{Output: env.Stderr})
	if err != nil {
		return err
	}
	defer w.Close()
	cfg = w.Config
	secrets.Watch(cfg.StatePath())
	store := wizard.NewFileStore(cfg.StatePath(), env.Now)
	st, err := store.Load()
	if err != nil {
		return err
	}
	if !st.Installed() {
		fmt.Fprintf(env.Stderr, "carto-setup smoke: nothing is installed from %s yet (state %s): install with the wizard or carto-setup apply first\n", cfg.Dir, cfg.StatePath())
		return ExitFailed
	}
	s := steps.New(w.Steps, store)
	smoker := steps.NewSmoker(steps.SmokeConfig{Log: log, Steps: s, ReleaseDir: cfg.Dir, StateDir: cfg.StateDir,
		Project: cfg.Project, ProbeBinary: w.ProbeBinary, Address: w.Address, Version: env.Version})
	out, err := smoker.Smoke(ctx, st)
	if err != nil {
		return err
	}
	var results []check.Result
	var failed []string
	for _, r := range out.Run.Results {
		r.Result.Field, r.Result.Fixed = r.Field, r.Fixed
		results = append(results, r.Result)
		if r.Status == check.Fail || r.Status == check.Error {
			failed = append(failed, r.ID)
		}
	}
	if err := report(env.Stdout, asJSON, results, nil); err != nil {
		return err
	}
	if len(failed) > 0 {
		fmt.Fprintf(env.Stderr, "carto-setup smoke: %d check(s) did not pass: %s\n", len(failed), strings.Join(failed, ", "))
		return ExitFailed
	}
	return nil
}
