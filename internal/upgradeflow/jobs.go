package upgradeflow

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"sync"

	"github.com/carto-setup/carto-setup/internal/history"
	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// The jobs kinds of the wizard's upgrades and restores.
const (
	UpgradeKind = "upgrade"
	RestoreKind = "restore"
)

// Jobs runs upgrades and restores as jobs of the wizard, so that they go
// on when the page is closed, and keeps what the pages show of them while
// this process runs.
type Jobs struct {
	f      *Flow
	runner *jobs.Runner

	mu       sync.Mutex
	upgrades map[string]*Progress
	restores map[string]*restoreRun
}

type restoreRun struct {
	lines  *Progress // its lines only
	mu     sync.Mutex
	report *RestoreReport
}

// NewJobs returns the jobs of f, run by runner.
func NewJobs(f *Flow, runner *jobs.Runner) *Jobs {
	return &Jobs{f: f, runner: runner, upgrades: map[string]*Progress{}, restores: map[string]*restoreRun{}}
}

// Flow returns the flow the jobs run.
func (j *Jobs) Flow() *Flow { return j.f }

// UpgradeJob is what the Upgrade page shows of one upgrade job.
type UpgradeJob struct {
	Record jobs.Record
	// Live is false for a job of an earlier run of the wizard: only its
	// record is known (the history has its outcome).
	Live   bool
	Report Report
	Lines  []string
}

// StartUpgrade starts an upgrade job and returns its ID, or jobs.ErrBusy
// while one runs.
func (j *Jobs) StartUpgrade(opts Options) (string, error) {
	p := newProgress(j.f.c.Now())
	rec, err := j.runner.Start(UpgradeKind, func(ctx context.Context, id string) error {
		r := j.f.run(ctx, opts, p, io.Discard)
		if r.Result == ResultSucceeded || r.Result == ResultNothing {
			return nil
		}
		return errors.New(r.Message)
	})
	if err != nil {
		return rec.ID, err
	}
	j.mu.Lock()
	j.upgrades[rec.ID] = p
	j.mu.Unlock()
	return rec.ID, nil
}

// Upgrade reports an upgrade job, or false for an unknown ID.
func (j *Jobs) Upgrade(id string) (UpgradeJob, bool) {
	rec, ok := j.runner.Get(id)
	if !ok || rec.Kind != UpgradeKind {
		return UpgradeJob{}, false
	}
	out := UpgradeJob{Record: rec}
	j.mu.Lock()
	p := j.upgrades[id]
	j.mu.Unlock()
	if p != nil {
		out.Live, out.Report, out.Lines = true, p.Report(), p.Lines()
	}
	return out, true
}

// LatestUpgrade is the most recent upgrade job.
func (j *Jobs) LatestUpgrade() (string, bool) {
	rec, ok := j.runner.Latest(UpgradeKind)
	return rec.ID, ok
}

// RestoreJob is what the History page shows of one restore job.
type RestoreJob struct {
	Record jobs.Record
	Live   bool
	Report *RestoreReport // nil while it runs
	Lines  []string
}

// StartRestore starts restoring history entry id as a job and returns the
// job's ID, or jobs.ErrBusy while a restore runs.
func (j *Jobs) StartRestore(id int, opts RestoreOptions) (string, error) {
	run := &restoreRun{lines: newProgress(j.f.c.Now())}
	rec, err := j.runner.Start(RestoreKind, func(ctx context.Context, _ string) error {
		r := j.f.Restore(ctx, id, opts, lineSink{run.lines})
		run.mu.Lock()
		run.report = &r
		run.mu.Unlock()
		if r.Result != ResultSucceeded {
			return errors.New(r.Message)
		}
		return nil
	})
	if err != nil {
		return rec.ID, err
	}
	j.mu.Lock()
	j.restores[rec.ID] = run
	j.mu.Unlock()
	return rec.ID, nil
}

// Restore reports a restore job, or false for an unknown ID.
func (j *Jobs) Restore(id string) (RestoreJob, bool) {
	rec, ok := j.runner.Get(id)
	if !ok || rec.Kind != RestoreKind {
		return RestoreJob{}, false
	}
	out := RestoreJob{Record: rec}
	j.mu.Lock()
	run := j.restores[id]
	j.mu.Unlock()
	if run != nil {
		out.Live = true
		out.Lines = run.lines.Lines()
		run.mu.Lock()
		out.Report = run.report
		run.mu.Unlock()
	}
	return out, true
}

// Releases says which release is installed and which is checked out.
func (j *Jobs) Releases(ctx context.Context) (Releases, error) {
	return DetectReleases(ctx, j.f.c.ReleaseDir, j.f.c.History)
}

// Plan plans the upgrade of the wizard state st, writing nothing.
func (j *Jobs) Plan(ctx context.Context, st wizard.State) (PlanOutcome, error) {
	return j.f.Plan(ctx, st)
}

// Checkout checks out a release tag with git.
func (j *Jobs) Checkout(ctx context.Context, tag string) error {
	return Checkout(ctx, j.f.c.ReleaseDir, tag)
}

// Entries lists the history, newest first.
func (j *Jobs) Entries() ([]history.Entry, error) { return j.f.c.History.List() }

// PreviewRestore plans restoring history entry id, writing nothing.
func (j *Jobs) PreviewRestore(ctx context.Context, id int) (RestorePreview, error) {
	return j.f.PreviewRestore(ctx, id)
}

// BackupDir is where the wizard's upgrades put the database dump.
func (j *Jobs) BackupDir() string { return filepath.Join(j.f.c.StateDir, "backups") }
