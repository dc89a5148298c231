package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/carto-setup/carto-setup/internal/answers"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/config"
	"github.com/carto-setup/carto-setup/internal/history"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/upgrade"
	"github.com/carto-setup/carto-setup/internal/upgradeflow"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// UpgradeUsage documents `carto-setup upgrade`.
const UpgradeUsage = `  carto-setup upgrade --answers FILE [--backup-dir DIR | --no-backup REASON] [--json] [--dir DIR] [--state-dir DIR]
        upgrade the installed release to the one checked out, in order: plan
        (stops before anything is touched when the package is older than the
        new MIN_VERSION: give the newer package in the answers), preflight
        again, a verified backup of the metadata database (--no-backup REASON
        relies on a managed snapshot instead, recorded), apply, smoke test;
        exit 0 only on success
`

// Upgrade is `carto-setup upgrade --answers FILE`.
func Upgrade(ctx context.Context, env Env, args []string) error {
	var hf headlessFlags
	var backupDir, noBackup string
	cfg, rest, err := parse("carto-setup upgrade", UpgradeUsage, args, env.Getenv, env.Stderr, func(fs *flag.FlagSet) {
		hf.register(fs)
		fs.StringVar(&backupDir, "backup-dir", "", "where the database dump goes (default: STATE-DIR/backups)")
		fs.StringVar(&noBackup, "no-backup", "", "take no dump: the database is a managed service whose snapshot you rely on; say which and why")
	})
	if err != nil {
		return err
	}
	if err := noArgs("carto-setup upgrade", rest, env.Stderr); err != nil {
		return err
	}
	if backupDir != "" && noBackup != "" {
		fmt.Fprintln(env.Stderr, "carto-setup upgrade: --backup-dir and --no-backup exclude each other")
		return ExitInvalid
	}
	if strings.TrimSpace(noBackup) == "" && noBackup != "" {
		fmt.Fprintln(env.Stderr, "carto-setup upgrade: --no-backup needs a reason")
		return ExitInvalid
	}
	f, res, err := loadAnswers(hf.answers, env.Getenv, allSections)
	if err != nil {
		return invalid(env.Stderr, hf.answers, err)
	}
	if err := cfg.EnsureStateDir(); err != nil {
		return err
	}
	log, secrets := consoleLogger(env, slog.LevelWarn, answersSecrets(res)...)
	w, err := env.Wire(ctx, cfg, log, WireOptions{Output: env.Stderr})
	if err != nil {
		return err
	}
	defer w.Close()
	cfg = w.Config
	secrets.Watch(cfg.StatePath())
	h, err := upgradeflow.OpenHistory(cfg.StateDir, env.Now)
	if err != nil {
		return err
	}
	reasons := f.Reasons()

	// The answers' steps run on a copy of the wizard's state, as apply
	// runs them; the preflight runs later, after the plan. A package the
	// new release refuses is not an error here: the plan says why and
	// what to do.
	store := wizard.NewFileStore(cfg.StatePath(), env.Now)
	cur, err := store.Load()
	if err != nil {
		return err
	}
	mem := wizard.NewMemStore(seed(cur, res))
	r, err := runSteps(ctx, steps.New(w.Steps, mem), slices.DeleteFunc(names(stepNames), func(n string) bool { return n == "preflight" }), res, reasons, true)
	if err != nil {
		return err
	}
	if len(r.problems) > 0 {
		return invalid(env.Stderr, hf.answers, &answers.Error{Problems: r.problems})
	}
	s := steps.New(w.Steps, store)
	flow := upgradeflow.New(upgradeflow.Config{ReleaseDir: cfg.Dir, StateDir: cfg.StateDir, Project: cfg.Project, Expect: cfg.Expect,
		Now: env.Now, Log: log, History: h, Steps: s, EnsureImages: steps.EnsureImagesHook(w.Images, nil), Origin: history.CommandLine,
		Smoker: steps.NewSmoker(steps.SmokeConfig{Log: log, Steps: s, ReleaseDir: cfg.Dir, StateDir: cfg.StateDir,
			Project: cfg.Project, ProbeBinary: w.ProbeBinary, Address: w.Address, Version: env.Version})})
	next, err := mem.Load()
	if err != nil {
		return err
	}
	// A package below the new MIN_VERSION is the plan's to explain; any
	// other failed check of the answers stops here.
	blockedElsewhere := slices.DeleteFunc(slices.Clone(r.blocked), func(id string) bool { return id == "package.min_version" })
	if len(blockedElsewhere) > 0 {
		rep := upgradeflow.StoppedReport("Nothing was changed: these checks of the answers failed: "+strings.Join(blockedElsewhere, ", ")+".", env.Now())
		rep.Checks = r.results
		return finishUpgrade(env, hf.json, rep, reasons)
	}
	o, err := flow.Plan(ctx, next)
	if err != nil {
		return err
	}
	if o.Nothing != "" || o.Blocked() {
		rep := upgradeflow.BlockedReport(o, env.Now())
		rep.Checks = r.results
		return finishUpgrade(env, hf.json, rep, reasons)
	}

	// The plan passes: the upgrade runs from the answers, which become
	// the wizard's state once it holds the state directory's lock.
	if backupDir != "" {
		if backupDir, err = filepath.Abs(backupDir); err != nil {
			return err
		}
	}
	rep := flow.Run(ctx, upgradeflow.Options{BackupDir: backupDir, SnapshotReason: noBackup, Reasons: reasons, State: &next}, env.Stderr)
	rep.Checks = r.results
	return finishUpgrade(env, hf.json, rep, reasons)
}

// finishUpgrade prints the report and returns the exit status: 0 when the
// upgrade succeeded or there was nothing to upgrade.
func finishUpgrade(env Env, asJSON bool, rep upgradeflow.Report, reasons map[string]string) error {
	if asJSON {
		b, err := rep.JSON()
		if err != nil {
			return err
		}
		if _, err := env.Stdout.Write(b); err != nil {
			return err
		}
	} else if err := printUpgrade(env.Stdout, rep, reasons); err != nil {
		return err
	}
	switch rep.Result {
	case upgradeflow.ResultSucceeded, upgradeflow.ResultNothing:
		return nil
	}
	fmt.Fprintln(env.Stderr, "carto-setup upgrade:", rep.Message)
	return ExitFailed
}

// printUpgrade prints the report for people: the steps, the plan, the
// backup and the board.
func printUpgrade(w io.Writer, r upgradeflow.Report, reasons map[string]string) error {
	if len(r.Checks) > 0 {
		if err := report(w, false, r.Checks, reasons); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	title := "Upgrade"
	if r.From != "" || r.To != "" {
		title += " " + r.From + " -> " + r.To
	}
	fmt.Fprintf(w, "%s: %s", title, r.Result)
	if r.HistoryID > 0 {
		fmt.Fprintf(w, " (history entry %d)", r.HistoryID)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range r.Steps {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Name.Title(), s.Status, s.Message)
	}
	tw.Flush()
	if p := r.Plan; p != nil {
		fmt.Fprintf(w, "\nPlan: %s -> %s (%s), package %s, MIN_VERSION %s\n", p.From, p.To, p.Direction, cell(p.PackageVersion), cell(p.MinVersion))
		if len(p.VariablesAdded)+len(p.VariablesRemoved) > 0 {
			fmt.Fprintf(w, "  env.tpl: added %s; removed %s\n", cell(strings.Join(p.VariablesAdded, ", ")), cell(strings.Join(p.VariablesRemoved, ", ")))
		}
		for _, o := range p.Overrides {
			fmt.Fprintf(w, "  %s is set in customer.env and overridden by env.tpl\n", o.Key)
		}
		for _, b := range p.Blocking {
			fmt.Fprintf(w, "  BLOCKED %s: %s %s\n", b.ID, b.Message, b.Hint)
		}
	}
	if b := r.Backup; b != nil {
		switch {
		case b.SnapshotReason != "":
			fmt.Fprintf(w, "\nBackup: none taken; relying on a managed snapshot: %s\n", b.SnapshotReason)
		case b.Path != "":
			fmt.Fprintf(w, "\nBackup: %s (%d bytes, sha256 %s, on the %s)\n  verified: %s\n  to restore it: %s\n", b.Path, b.Size, b.SHA256, b.Method, b.Verified, b.RestoreCommand)
		}
	}
	rows := r.Services
	if len(rows) == 0 && r.Plan != nil {
		for _, s := range r.Plan.Services {
			rows = append(rows, upgradeflow.ServiceRow{Service: s.Service, Previous: s.Previous, Change: string(s.Change), OldImage: s.OldImage, NewImage: s.NewImage})
		}
	}
	if len(rows) > 0 {
		fmt.Fprintln(w, "\nServices:")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  SERVICE\tCHANGE\tIMAGE\tRECREATED\tSTATE")
		for _, s := range rows {
			name := s.Service
			if s.Previous != "" && s.Previous != s.Service {
				name = s.Previous + " -> " + s.Service
			}
			img := cell(s.OldImage) + " -> " + cell(s.NewImage)
			if s.OldImage == s.NewImage {
				img = s.NewImage
			}
			state := cell(s.State)
			if s.ExitCode != nil {
				state += fmt.Sprintf(" (%d)", *s.ExitCode)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%t\t%s\n", name, s.Change, img, s.Recreated, state)
		}
		tw.Flush()
	}
	if r.MigrationsExitCode != nil {
		fmt.Fprintf(w, "workspace-migrations exited %d.\n", *r.MigrationsExitCode)
	}
	if len(r.Smoke) > 0 {
		worst := check.Worst(r.Smoke)
		fmt.Fprintf(w, "Smoke test: %d checks, worst %s.\n", len(r.Smoke), worst)
	}
	_, err := fmt.Fprintf(w, "\n%s\n", r.Message)
	return err
}

// releaseNotice is the warning check shows when the checkout holds
// another release than the one installed; nil when they are the same or
// nothing is installed.
func releaseNotice(ctx context.Context, cfg config.Config) (*check.Result, error) {
	// check writes nothing: without a history directory, the .env on disk
	// says what is installed.
	var h *history.Store
	if _, err := os.Stat(filepath.Join(cfg.StateDir, "history")); err == nil {
		if h, err = history.Open(filepath.Join(cfg.StateDir, "history"), time.Now); err != nil {
			return nil, err
		}
	}
	rel, err := upgradeflow.DetectReleases(ctx, cfg.Dir, h)
	if err != nil || !rel.Differs() {
		return nil, err
	}
	r := check.Result{Step: "release", ID: "release.checked_out", Status: check.Warn, Measured: rel.CheckedOut, Required: rel.Installed,
		Message: rel.Notice() + "."}
	switch rel.Direction() {
	case upgrade.Backward:
		r.Hint = "The checkout is older than what is installed: check out " + rel.Installed + " again, or go back with carto-setup restore (carto-setup history lists the entries)."
	default:
		r.Hint = "Run carto-setup upgrade --answers FILE: it plans the upgrade, backs up the database and then installs; apply refuses until then."
	}
	return &r, nil
}
