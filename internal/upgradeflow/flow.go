package upgradeflow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/backup"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/history"
	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/redact"
	"github.com/carto-setup/carto-setup/internal/statelock"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/upgrade"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// Config is what the upgrade and the restore work with.
type Config struct {
	ReleaseDir string
	StateDir   string
	Project    string
	// Expect bounds the wait for the services after Compose; 0 means 5
	// minutes.
	Expect time.Duration
	Now    func() time.Time
	Log    *slog.Logger
	// History records every upgrade and restore.
	History *history.Store
	// Steps run the preflight again over the store the upgrade installs
	// from (the wizard's state); Smoker runs the smoke test in the
	// foreground.
	Steps  *steps.Steps
	Smoker *steps.Smoker
	// EnsureImages prepares the new release's images before Compose runs
	// (deploy.RunConfig.EnsureImages).
	EnsureImages func(ctx context.Context, plan deploy.Plan, progress io.Writer) error
	// Origin says who started the actions, for the history; Holder is
	// the command named to anyone who finds the state directory locked.
	Origin history.Origin
	Holder string
}

// Options are the admin's choices for one upgrade.
type Options struct {
	// BackupDir receives the database dump; "" means the state
	// directory's backups/.
	BackupDir string
	// SnapshotReason, when set, skips the dump: the admin relies on a
	// snapshot of the managed database and says why; it is recorded.
	SnapshotReason string
	// Reasons continue past failed checks of the preflight and the smoke
	// test, by check ID, besides the reasons recorded at the install.
	Reasons map[string]string
	// State, when set, is the wizard state to upgrade with (an answers
	// file's): it replaces the stored one once the lock is held and the
	// plan passes. Nil upgrades with the stored state.
	State *wizard.State
}

// Flow runs upgrades and restores.
type Flow struct {
	c Config
}

// New returns a flow. A nil Log discards; a nil Now is the wall clock.
func New(c Config) *Flow {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Project == "" {
		c.Project = deploy.DefaultProject
	}
	if c.Holder == "" {
		c.Holder = "carto-setup upgrade"
	}
	return &Flow{c: c}
}

// History returns the history the flow records into.
func (f *Flow) History() *history.Store { return f.c.History }

// ReleaseDir returns the release directory.
func (f *Flow) ReleaseDir() string { return f.c.ReleaseDir }

// BlockedReport is the report of an upgrade that stopped at its plan, for
// a caller that planned before starting (nothing was touched).
func BlockedReport(o PlanOutcome, now time.Time) Report {
	p := newProgress(now)
	p.planned(o)
	if o.Nothing != "" {
		return p.finish(ResultNothing, o.Nothing, now)
	}
	return p.finish(ResultBlocked, blockedMessage(o), now)
}

// StoppedReport is the report of an upgrade that did not get to its plan,
// for a caller that refused its input (nothing was touched).
func StoppedReport(msg string, now time.Time) Report {
	return newProgress(now).finish(ResultBlocked, msg, now)
}

func blockedMessage(o PlanOutcome) string {
	var ids []string
	for _, r := range o.Plan.Blocking {
		ids = append(ids, r.ID)
	}
	return "The upgrade stopped at its plan, before any file or the database was touched: " + strings.Join(ids, ", ") + "."
}

// planned records the plan step.
func (p *Progress) planned(o PlanOutcome) {
	p.update(func(r *Report) {
		r.From, r.To = o.Releases.Installed, o.Releases.CheckedOut
		if o.Nothing == "" {
			plan := o.Plan
			r.Plan = &plan
		}
	})
	switch {
	case o.Nothing != "":
		p.setStep(StepPlan, Passed, o.Nothing)
	case o.Blocked():
		var msgs []string
		for _, b := range o.Plan.Blocking {
			msgs = append(msgs, b.Message)
		}
		p.setStep(StepPlan, Blocked, strings.Join(msgs, " "))
	default:
		p.setStep(StepPlan, Passed, fmt.Sprintf("%s to %s: %d variable(s) added, %d removed, %d service change(s).",
			o.Plan.From, o.Plan.To, len(o.Plan.VariablesAdded), len(o.Plan.VariablesRemoved), changedServices(o.Plan)))
	}
}

// changedServices counts the services added, removed, renamed or given
// another image.
func changedServices(p upgrade.Plan) int {
	n := 0
	for _, s := range p.Services {
		if s.Change != upgrade.Unchanged || s.ImageChanged() {
			n++
		}
	}
	return n
}

// Run upgrades in the foreground, from the state in the steps' store, and
// returns the report; progress lines go to out, masked.
func (f *Flow) Run(ctx context.Context, opts Options, out io.Writer) Report {
	return f.run(ctx, opts, newProgress(f.c.Now()), out)
}

// run is one upgrade: plan, preflight again, backup, apply, smoke test,
// each recorded in p as it goes. It stops at the first step that does not
// pass; from the backup on, the history entry says how it ended.
func (f *Flow) run(ctx context.Context, opts Options, p *Progress, out io.Writer) Report {
	now := f.c.Now
	store := f.c.Steps.Store()
	st, err := store.Load()
	if err != nil {
		return p.finish(ResultFailed, "The wizard's state could not be read: "+err.Error(), now())
	}
	if opts.State != nil {
		st = *opts.State
	}
	masker := redact.New(redact.Values(st.Secrets()...))
	w := redact.NewLineWriter(io.MultiWriter(out, lineSink{p}), masker)
	defer w.Flush()
	logf := func(format string, args ...any) { w.Line(fmt.Sprintf(format, args...)) }

	lock, err := statelock.TryAcquire(f.c.StateDir, statelock.Self(f.c.Holder, now()))
	if err != nil {
		logf("%v", err)
		return p.finish(ResultFailed, "Nothing was changed: "+err.Error()+".", now())
	}
	defer lock.Release()
	if h, ok := lock.Stale(); ok {
		logf("The previous run of %s was interrupted; its history entry says so.", h)
	}

	// 1. Plan.
	p.setStep(StepPlan, Running, "")
	o, err := f.Plan(ctx, st)
	if err != nil {
		p.setStep(StepPlan, Failed, err.Error())
		return p.finish(ResultFailed, "The upgrade could not be planned; nothing was changed.", now())
	}
	p.planned(o)
	if o.Nothing != "" {
		return p.finish(ResultNothing, o.Nothing, now())
	}
	if o.Blocked() {
		logf("%s", blockedMessage(o))
		return p.finish(ResultBlocked, blockedMessage(o), now())
	}
	if opts.State != nil {
		next := *opts.State
		if _, err := store.Update(func(s *wizard.State) error {
			next.Revision = s.Revision
			*s = next
			return nil
		}); err != nil {
			p.setStep(StepPlan, Failed, "The wizard's state could not be saved: "+err.Error())
			return p.finish(ResultFailed, "Nothing was changed.", now())
		}
	}
	logf("Upgrading %s to %s.", o.Plan.From, o.Plan.To)
	reasons := map[string]string{}
	for _, ov := range st.Overrides {
		if ov.Reason != wizard.WarningReason {
			reasons[ov.Check] = ov.Reason
		}
	}
	for k, v := range opts.Reasons {
		reasons[k] = v
	}

	eng, engErr := engine.New(ctx)
	if eng != nil {
		defer eng.Close()
	}

	// 2. Preflight again, with room for the new images.
	p.setStep(StepPreflight, Running, "")
	pre, err := f.c.Steps.Preflight(ctx)
	if err != nil {
		p.setStep(StepPreflight, Failed, err.Error())
		return p.finish(ResultFailed, "The preflight could not run; nothing was changed.", now())
	}
	results := make([]check.Result, 0, len(pre.Run.Results)+1)
	for _, r := range pre.Run.Results {
		results = append(results, r.Result)
	}
	if engErr == nil {
		results = append(results, imageDisk(ctx, eng, o.Plan, statFree))
	}
	p.update(func(r *Report) { r.Preflight = results })
	if errs, _ := wizard.Gate(wizard.NewCheckRun(now(), results).Results, reasons, now()); len(errs) > 0 {
		ids := failedIDs(results, reasons)
		p.setStep(StepPreflight, Failed, "These checks failed: "+strings.Join(ids, ", ")+". Fix them, or give a reason to continue past each one that may be overridden.")
		return p.finish(ResultFailed, "The upgrade stopped at the preflight; nothing was changed.", now())
	}
	p.setStep(StepPreflight, Passed, preflightSummary(results, reasons))

	// 3. The database backup, before anything changes. The history entry
	// begins here: from now on it says how the upgrade ended.
	p.setStep(StepBackup, Running, "")
	rec, err := f.c.History.Begin(history.Start{Action: history.Upgrade, Origin: f.c.Origin, ReleaseDir: f.c.ReleaseDir,
		Release: o.Plan.To, Commit: o.Releases.Commit, PackageVersion: o.Plan.PackageVersion, FromRelease: o.Plan.From})
	if err != nil {
		p.setStep(StepBackup, Failed, "The history entry could not be written: "+err.Error())
		return p.finish(ResultFailed, "Nothing was changed.", now())
	}
	p.update(func(r *Report) { r.HistoryID = rec.ID() })
	end := func(res Result, msg string) Report {
		hr := history.Failed
		if res == ResultSucceeded {
			hr = history.Succeeded
		}
		if _, err := rec.Finish(hr, msg); err != nil {
			logf("The history entry could not be finished: %v", err)
		}
		return p.finish(res, msg, now())
	}
	br, ok := f.backup(ctx, eng, o, opts, logf)
	p.update(func(r *Report) { r.Backup = br })
	if !ok {
		p.setStep(StepBackup, Failed, backupFailure(br))
		return end(ResultFailed, "The upgrade stopped before any file changed: no backup of the database was taken.")
	}
	if err := rec.SetBackup(history.Backup{Path: br.Path, Size: br.Size, SHA256: br.SHA256, Method: br.Method,
		Verified: br.Verified, SnapshotReason: br.SnapshotReason}); err != nil {
		p.setStep(StepBackup, Failed, "The backup could not be recorded: "+err.Error())
		return end(ResultFailed, "The upgrade stopped before any file changed.")
	}
	p.setStep(StepBackup, Passed, backupSummary(br))

	// 4. Apply: the files, Compose, every service in its state.
	p.setStep(StepApply, Running, "")
	if engErr != nil {
		p.setStep(StepApply, Failed, "The Docker Engine is not reachable: "+engErr.Error())
		return end(ResultFailed, "The upgrade stopped before any file changed: Docker is not reachable.")
	}
	if err := f.apply(ctx, eng, st, o, p, w); err != nil {
		var de *deploy.Error
		msg := err.Error()
		if errors.As(err, &de) {
			msg = strings.TrimPrefix(de.Error(), "deploy: ")
		}
		p.setStep(StepApply, Failed, msg)
		return end(ResultFailed, "The apply failed: "+msg)
	}
	rep := p.Report()
	p.setStep(StepApply, Passed, applySummary(rep))
	if _, err := store.Update(func(s *wizard.State) error {
		s.MarkDone(wizard.Package)
		s.MarkDone(wizard.Review)
		s.MarkDone(wizard.Install)
		// What is installed now, so later changes show as changed since
		// this install and the smoke test runs against it.
		s.RecordInstall(st, f.c.Now(), o.Plan.To)
		delete(s.Done, wizard.Smoke)
		return nil
	}); err != nil {
		logf("The wizard's state could not be updated: %v", err)
	}

	// 5. Smoke test against the new release.
	p.setStep(StepSmoke, Running, "")
	st, err = store.Load()
	if err != nil {
		p.setStep(StepSmoke, Failed, err.Error())
		return end(ResultFailed, "The smoke test could not run.")
	}
	smoke, err := f.c.Smoker.Smoke(ctx, st)
	if err != nil {
		p.setStep(StepSmoke, Failed, err.Error())
		return end(ResultFailed, "The smoke test could not run.")
	}
	var smokeResults []check.Result
	for _, r := range smoke.Run.Results {
		smokeResults = append(smokeResults, r.Result)
	}
	p.update(func(r *Report) { r.Smoke = smokeResults })
	cont, _, err := f.c.Steps.Continue(wizard.Smoke, reasons)
	if err != nil || cont.Refused() {
		ids := failedIDs(smokeResults, reasons)
		p.setStep(StepSmoke, Failed, "These checks failed: "+strings.Join(ids, ", ")+".")
		return end(ResultFailed, fmt.Sprintf("%s is installed, but the smoke test failed: %s.", o.Plan.To, strings.Join(ids, ", ")))
	}
	p.setStep(StepSmoke, Passed, preflightSummary(smokeResults, reasons))
	logf("Upgraded %s to %s; the smoke test passed.", o.Plan.From, o.Plan.To)
	return end(ResultSucceeded, fmt.Sprintf("Upgraded %s to %s.", o.Plan.From, o.Plan.To))
}

// backup takes and verifies the dump, or records the admin's snapshot
// reason. ok is false when the upgrade must stop.
func (f *Flow) backup(ctx context.Context, eng *engine.Client, o PlanOutcome, opts Options, logf func(string, ...any)) (*BackupReport, bool) {
	br := &BackupReport{}
	if reason := strings.TrimSpace(opts.SnapshotReason); reason != "" {
		br.SnapshotReason = reason
		logf("No dump: relying on a snapshot of the managed database: %s", reason)
		return br, true
	}
	target, err := databaseTarget(ctx, eng, f.c.ReleaseDir, f.c.Project)
	if err != nil {
		br.Unavailable = []string{err.Error()}
		return br, false
	}
	dir := opts.BackupDir
	if dir == "" {
		dir = filepath.Join(f.c.StateDir, "backups")
	}
	logf("Dumping the metadata database into %s.", dir)
	b, err := takeBackup(ctx, target, dir, f.c.Now)
	var un *backup.UnavailableError
	switch {
	case errors.As(err, &un):
		br.Unavailable = un.Reasons
		if target.embedded && target.container == nil {
			br.Unavailable = append(br.Unavailable, "the embedded database's container is not running")
		}
		logf("No dump is possible: %s", strings.Join(br.Unavailable, "; "))
		return br, false
	case err != nil:
		br.Unavailable = []string{err.Error()}
		logf("The backup failed: %v", err)
		return br, false
	}
	br.Path, br.Size, br.SHA256, br.Method, br.Verified = b.Path, b.Size, b.SHA256, b.Method, b.Verification.Summary()
	br.RestoreCommand = backup.RestoreCommand(b.Path, target.conn())
	logf("Backup %s (%d bytes, sha256 %s): %s.", b.Path, b.Size, b.SHA256, br.Verified)
	return br, true
}

// apply writes the new release's files and brings the stack up, with the
// board of old and new images kept live in p.
func (f *Flow) apply(ctx context.Context, eng *engine.Client, st wizard.State, o PlanOutcome, p *Progress, out io.Writer) error {
	dp, err := deploy.NewPlanWith(st, f.c.ReleaseDir, deploy.PlanOptions{StateDir: f.c.StateDir})
	if err != nil {
		return err
	}
	before, err := containerIDs(ctx, eng, f.c.Project)
	if err != nil {
		return fmt.Errorf("list the containers: %w", err)
	}
	board := deploy.NewBoard(deploy.BoardConfig{})
	hub := logstream.NewHub(logstream.HubConfig{})
	services, scales := dp.Services(), dp.Scales()
	p.setLive(func() ([]ServiceRow, *int) {
		return serviceRows(o.Plan, board.Expected(services, scales), scales, before, nil)
	})
	runErr := deploy.Run(ctx, deploy.Deps{Compose: deploy.SystemCompose{}, Docker: eng}, deploy.RunConfig{
		Plan: dp, Project: f.c.Project, Expect: f.c.Expect, EnsureImages: f.c.EnsureImages, Hub: hub, Board: board, Now: f.c.Now,
	}, out)
	after, err := containerIDs(ctx, eng, f.c.Project)
	if err != nil {
		after = map[string][]string{}
	}
	rows, migrations := serviceRows(o.Plan, board.Expected(services, scales), scales, before, after)
	p.setLive(nil)
	p.update(func(r *Report) { r.Services, r.MigrationsExitCode = rows, migrations })
	if runErr != nil {
		return runErr
	}
	if migrations == nil || *migrations != 0 {
		return errors.New("workspace-migrations did not exit 0")
	}
	return nil
}

func failedIDs(results []check.Result, reasons map[string]string) []string {
	var ids []string
	for _, r := range results {
		if (r.Status == check.Fail || r.Status == check.Error) && reasons[r.ID] == "" {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) == 0 {
		for _, r := range results {
			if r.Status == check.Fail || r.Status == check.Error {
				ids = append(ids, r.ID+" (cannot be overridden)")
			}
		}
	}
	return ids
}

// preflightSummary counts the results and names the overridden ones.
func preflightSummary(results []check.Result, reasons map[string]string) string {
	n := map[check.Status]int{}
	var past []string
	for _, r := range results {
		n[r.Status]++
		if r.Status == check.Fail || r.Status == check.Error {
			past = append(past, r.ID+" ("+reasons[r.ID]+")")
		}
	}
	s := fmt.Sprintf("%d passed, %d warnings", n[check.Pass], n[check.Warn])
	if len(past) > 0 {
		s += "; continuing past " + strings.Join(past, ", ")
	}
	return s + "."
}

func backupSummary(b *BackupReport) string {
	if b.SnapshotReason != "" {
		return "No dump was taken: the admin relies on a snapshot of the managed database (" + b.SnapshotReason + "); recorded."
	}
	return fmt.Sprintf("%s (%d bytes, sha256 %s), taken on the %s; verified: %s.", b.Path, b.Size, b.SHA256[:12], b.Method, b.Verified)
}

func backupFailure(b *BackupReport) string {
	if b == nil || len(b.Unavailable) == 0 {
		return "The backup failed."
	}
	return "No dump could be taken: " + strings.Join(b.Unavailable, "; ") + ". If the database is a managed service with its own snapshots, confirm a snapshot with a reason (carto-setup upgrade --no-backup REASON, or the field on the Upgrade page)."
}

func applySummary(r Report) string {
	recreated := 0
	for _, s := range r.Services {
		if s.Recreated {
			recreated++
		}
	}
	s := fmt.Sprintf("%d container(s) recreated", recreated)
	if r.MigrationsExitCode != nil {
		s += fmt.Sprintf("; workspace-migrations exited %d", *r.MigrationsExitCode)
	}
	return s + "."
}

// lineSink keeps the progress lines for the page.
type lineSink struct{ p *Progress }

func (s lineSink) Write(b []byte) (int, error) {
	for line := range bytes.SplitSeq(bytes.TrimRight(b, "\n"), []byte("\n")) {
		s.p.addLine(string(line))
	}
	return len(b), nil
}
