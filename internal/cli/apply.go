package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/answers"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/history"
	"github.com/carto-setup/carto-setup/internal/redact"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/upgradeflow"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// ApplyUsage documents `carto-setup apply`.
const ApplyUsage = `  carto-setup apply --answers FILE [--json] [--resolve KEY=mine|wizard ...] [--remove-failed]
                    [--dir DIR] [--state-dir DIR] [--expect-timeout D] [--wait D] [--demo]
        check everything, then install and smoke-test as the wizard does; the
        answers' overrides continue past overridable failures, the smoke
        test's included; exit 0 only on success. customer.env is merged: hand
        edits are kept, and a hand edit of a key the answers set is a conflict
        that stops apply (exit 1, nothing written) until --resolve KEY=mine
        (keep yours) or KEY=wizard (take the answers'). --remove-failed: when
        a first install fails, remove what it created (containers, network,
        the volumes it made). One install at a time per state directory:
        refuses (or waits --wait) while another install holds it
`

// allSections are the sections apply reads.
var allSections = []answers.Section{answers.SectionPackage, answers.SectionDomain, answers.SectionDatabase,
	answers.SectionCache, answers.SectionTLS, answers.SectionBuckets, answers.SectionAdvanced}

// Apply is `carto-setup apply --answers FILE [--json]`: every step's checks
// on the answers, then the wizard's install (plan, write, Compose up, wait)
// and its smoke test. The state directory ends as the wizard would leave it.
func Apply(ctx context.Context, env Env, args []string) error {
	var hf headlessFlags
	var wait time.Duration
	resolve := resolveFlag{}
	var removeFailed bool
	cfg, rest, err := parse("carto-setup apply", ApplyUsage, args, env.Getenv, env.Stderr, func(fs *flag.FlagSet) {
		hf.register(fs)
		fs.Var(resolve, "resolve", "KEY=mine|wizard: keep your hand edit of KEY, or take the answers' value (repeatable)")
		fs.BoolVar(&removeFailed, "remove-failed", false, "when a first install fails, remove what it created")
		waitFlag(fs, &wait)
	})
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		fmt.Fprintf(env.Stderr, "carto-setup apply: unexpected argument %q; apply runs every step\n", rest[0])
		return ExitInvalid
	}
	f, res, err := loadAnswers(hf.answers, env.Getenv, allSections)
	if err != nil {
		return invalid(env.Stderr, hf.answers, err)
	}
	if err := cfg.EnsureStateDir(); err != nil {
		return err
	}
	env, secrets := maskedConsole(env, res, cfg.StatePath())
	// One install at a time on a state directory, the wizard's included.
	lock, err := lockInstall(ctx, env, "carto-setup apply", cfg.StateDir, steps.HolderApply, wait)
	if err != nil {
		return err
	}
	defer lock.Release()
	// A Compose process a killed wizard left behind is stopped now,
	// whatever the checks find: nothing else owns it.
	if err := lock.StopLeftovers(ctx, cfg.Project, env.Stderr); err != nil {
		fmt.Fprintln(env.Stderr, "carto-setup apply: nothing was installed:", err)
		return ExitFailed
	}
	log := redact.NewLogger(env.Stderr, nil, secrets.Current)
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
	if rel, err := upgradeflow.DetectReleases(ctx, cfg.Dir, h); err != nil {
		return err
	} else if rel.Differs() {
		fmt.Fprintf(env.Stderr, "carto-setup apply: %s: nothing was installed. apply would put it in place without a plan or a database backup: run `carto-setup upgrade --answers %s` to upgrade, or check out %s again.\n",
			rel.Notice(), hf.answers, rel.Installed)
		return ExitFailed
	}
	progress := func(format string, args ...any) { fmt.Fprintf(env.Stderr, format+"\n", args...) }
	reasons := f.Reasons()

	// The steps run on a copy of the wizard's state; it is saved only
	// when every step passes, so a failed apply leaves the wizard as it
	// was.
	store := wizard.NewFileStore(cfg.StatePath(), env.Now)
	cur, err := store.Load()
	if err != nil {
		return err
	}
	mem := wizard.NewMemStore(seed(cur, res))
	progress("Checking every step.")
	r, err := runSteps(ctx, steps.New(w.Steps, mem), names(stepNames), res, reasons, true)
	if err != nil {
		return err
	}
	if len(r.problems) > 0 {
		return invalid(env.Stderr, hf.answers, &answers.Error{Problems: r.problems})
	}
	all := r.results
	if len(r.blocked) > 0 {
		if err := report(env.Stdout, hf.json, all, reasons); err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "carto-setup apply: nothing was installed: these checks failed: %s\n", strings.Join(blockedNames(all, r.blocked), ", "))
		return ExitFailed
	}

	next, err := mem.Load()
	if err != nil {
		return err
	}
	// Planned before the state is saved: a refusal or an open conflict
	// leaves the wizard, and every file, as they were.
	inst := steps.NewInstaller(steps.InstallConfig{Log: log, Store: store, ReleaseDir: cfg.Dir, StateDir: cfg.StateDir, Project: cfg.Project,
		Expect: cfg.Expect, Now: env.Now, Images: w.Images, ImageEvents: imageEvents(hf.json, env.Stderr)})
	resolutions := steps.Resolutions(next)
	maps.Copy(resolutions, resolve)
	plan, err := deploy.NewPlanWith(next, cfg.Dir, deploy.PlanOptions{StateDir: cfg.StateDir, Resolutions: resolutions})
	var refused *deploy.RefusedError
	if errors.As(err, &refused) {
		all = append(all, refused.Results...)
		if err := report(env.Stdout, hf.json, all, reasons); err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "carto-setup apply: nothing was installed: these checks failed: %s\n", strings.Join(failedNames(refused.Results), ", "))
		return ExitFailed
	}
	if err != nil {
		return err
	}
	rep := plan.Report()
	for key := range resolve {
		if !slices.ContainsFunc(rep.Conflicts, func(c deploy.Conflict) bool { return c.Key == key }) {
			progress("Note: --resolve %s: there is no conflict on %s; ignored.", key, key)
		}
	}
	if open := rep.Open(); len(open) > 0 {
		if err := reportPlan(env.Stdout, hf.json, all, reasons, &rep); err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "carto-setup apply: nothing was installed: %d hand edit(s) conflict with the answers:\n", len(open))
		for _, c := range open {
			fmt.Fprintf(env.Stderr, "  %s: %s\n", c.Key, c)
		}
		fmt.Fprintln(env.Stderr, "Settle each with --resolve KEY=mine (keep your edit) or --resolve KEY=wizard (take the answers' value), then apply again.")
		return ExitFailed
	}

	started := time.Now()
	st, err := store.Update(func(s *wizard.State) error {
		next.Revision = s.Revision
		next.MarkDone(wizard.Review)
		delete(next.Done, wizard.Install)
		*s = next
		return nil
	})
	if err != nil {
		return err
	}
	for _, ov := range st.Overrides {
		if ov.Reason != wizard.WarningReason && reasons[ov.Check] == ov.Reason {
			progress("Continuing past %s: %s", ov.Check, ov.Reason)
		}
	}

	// The history records the install from before anything is written to
	// after the smoke test.
	rec, err := steps.BeginInstall(ctx, h, history.CommandLine, plan, st)
	if err != nil {
		return err
	}
	outcome := errors.New("apply stopped before the smoke test ended")
	defer func() {
		if err := steps.FinishInstall(rec, outcome, "installed; the smoke test passed"); err != nil {
			fmt.Fprintln(env.Stderr, "carto-setup apply: the history entry could not be finished:", err)
		}
	}()
	err = inst.Install(ctx, st, plan, env.Stderr)
	if err != nil {
		outcome = err
	}
	installed := check.Result{Step: "install", ID: "install.deploy", Status: check.Pass,
		Measured: "every service in its expected state", Required: "every service in its expected state",
		Message: "The stack is installed and every service reached its expected state."}
	if err != nil {
		installed.Status, installed.Measured = check.Fail, "failed"
		installed.Message, installed.Hint = "The install failed.", ""
		var de *deploy.Error
		if errors.As(err, &de) {
			installed.Measured, installed.Message, installed.Hint = de.Step, de.Message, de.Hint
		}
		all = append(all, installed)
		if rerr := reportPlan(env.Stdout, hf.json, all, reasons, &rep); rerr != nil {
			return rerr
		}
		if de != nil {
			fmt.Fprintln(env.Stderr, "carto-setup apply: install failed:", strings.TrimPrefix(de.Error(), "deploy: "))
		} else {
			fmt.Fprintln(env.Stderr, "carto-setup apply: install failed:", err)
		}
		if !cur.Done[wizard.Install] {
			afterFailedFirstInstall(ctx, env.Stderr, inst, started, removeFailed)
		}
		return ExitFailed
	}
	all = append(all, installed)

	// The wizard's smoke test, in the foreground; as in the wizard, an
	// overridable failure needs a reason (an override in the answers).
	progress("Running the smoke test.")
	s := steps.New(w.Steps, store)
	smoker := steps.NewSmoker(steps.SmokeConfig{Log: log, Steps: s, ReleaseDir: cfg.Dir, StateDir: cfg.StateDir,
		Project: cfg.Project, ProbeBinary: w.ProbeBinary, Address: w.Address, Version: env.Version})
	smoke, err := smoker.Smoke(ctx, st)
	if err != nil {
		return err
	}
	for _, r := range smoke.Run.Results {
		r.Result.Field, r.Result.Fixed = r.Field, r.Fixed
		all = append(all, r.Result)
	}
	cont, _, err := s.Continue(wizard.Smoke, reasons)
	if err != nil {
		return err
	}
	if err := reportPlan(env.Stdout, hf.json, all, reasons, &rep); err != nil {
		return err
	}
	if cont.Refused() {
		var ids []string
		for _, r := range smoke.Run.Results {
			if _, ok := cont.Errors[wizard.OverrideField(r.ID)]; ok {
				ids = append(ids, r.ID)
			}
		}
		fmt.Fprintf(env.Stderr, "carto-setup apply: installed, but the smoke test failed: %s\n", strings.Join(ids, ", "))
		outcome = errors.New("installed, but the smoke test failed: " + strings.Join(ids, ", "))
		return ExitFailed
	}
	for _, r := range smoke.Run.Results {
		if reason := reasons[r.ID]; reason != "" && (r.Status == check.Fail || r.Status == check.Error) {
			progress("Continuing past %s: %s", r.ID, reason)
		}
	}
	outcome = nil
	progress("Install complete; the smoke test passed. Walk the manual checklist in the wizard's smoke step.")
	return nil
}

// afterFailedFirstInstall removes what a failed first install created when
// --remove-failed asks for it, and otherwise prints the commands that do.
// Either way it says what stays.
func afterFailedFirstInstall(ctx context.Context, stderr io.Writer, inst *steps.Installer, started time.Time, remove bool) {
	if remove {
		fmt.Fprintln(stderr, "Removing what this failed first install created (--remove-failed).")
		c, err := inst.RemoveFailed(ctx, started, stderr)
		for _, r := range c.Removed {
			fmt.Fprintln(stderr, "  removed:", r)
		}
		for _, l := range c.Left {
			fmt.Fprintln(stderr, "  left:", l)
		}
		if err != nil {
			fmt.Fprintln(stderr, "carto-setup apply: the removal stopped:", err)
		}
		return
	}
	cmds, err := inst.RemoveCommands(ctx, started)
	if err != nil {
		fmt.Fprintln(stderr, "This was the first install; run apply again with --remove-failed to remove what a failed one creates.")
		return
	}
	fmt.Fprintln(stderr, "This was the first install. To remove what it created (its containers, network and the volumes it made), run:")
	for _, c := range cmds {
		fmt.Fprintln(stderr, "  "+c)
	}
	fmt.Fprintln(stderr, "or run apply with --remove-failed, which does this when a first install fails. Older volumes, the images and the files in the release directory stay either way.")
}

// names lists the step names.
func names(ss []stepName) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.name
	}
	return out
}
