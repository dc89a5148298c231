package app

import (
	"log/slog"
	"time"

	"github.com/carto-setup/carto-setup/internal/cli"
	"github.com/carto-setup/carto-setup/internal/config"
	"github.com/carto-setup/carto-setup/internal/history"
	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/upgradeflow"
)

// upgradeJobs opens the history and builds the wizard's upgrades and
// restores over the same steps and job runner as the install: the
// smoke test of an upgrade is the wizard's own, run in the foreground of
// the upgrade job.
func upgradeJobs(cfg config.Config, w *cli.Wiring, log *slog.Logger, now func() time.Time, st *steps.Steps, runner *jobs.Runner) (*history.Store, *upgradeflow.Jobs, error) {
	h, err := upgradeflow.OpenHistory(cfg.StateDir, now)
	if err != nil {
		return nil, nil, err
	}
	smoker := steps.NewSmoker(steps.SmokeConfig{Log: log, Steps: st, ReleaseDir: cfg.Dir, StateDir: cfg.StateDir,
		Project: cfg.Project, ProbeBinary: w.ProbeBinary, Address: w.Address, Version: Version})
	flow := upgradeflow.New(upgradeflow.Config{ReleaseDir: cfg.Dir, StateDir: cfg.StateDir, Project: cfg.Project, Expect: cfg.Expect,
		Now: now, Log: log, History: h, Steps: st, Smoker: smoker, EnsureImages: steps.EnsureImagesHook(w.Images, nil),
		Origin: history.Wizard, Holder: "carto-setup (wizard upgrade)"})
	return h, upgradeflow.NewJobs(flow, runner), nil
}
