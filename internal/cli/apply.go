package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/answers"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/redact"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// ApplyUsage documents `carto-setup apply`.
const ApplyUsage = `  carto-setup apply --answers FILE [--json] [--dir DIR] [--state-dir DIR] [--expect-timeout D] [--wait D] [--demo]
        check everything, then install and smoke-test as the wizard does; the
        answers' overrides continue past overridable failures, the smoke
        test's included; exit 0 only on success; refuses (or waits --wait)
        while another install holds the state directory
`

// allSections are the sections apply reads.
var allSections = []answers.Section{answers.SectionPackage, answers.SectionDomain, answers.SectionDatabase,
	answers.SectionCache, answers.SectionTLS, answers.SectionBuckets}

// Apply is `carto-setup apply --answers FILE [--json]`: every step's checks
// on the answers, then the wizard's install (plan, write, Compose up, wait)
// and its smoke test. The state directory ends as the wizard would leave it.
func Apply(ctx context.Context, env Env, args []string) error {
	var hf headlessFlags
	var wait time.Duration
	cfg, rest, err := parse("carto-setup apply", ApplyUsage, args, env.Getenv, env.Stderr, func(fs *flag.FlagSet) {
		hf.register(fs)
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
		fmt.Fprintf(env.Stderr, "carto-setup apply: nothing was installed: these checks failed: %s\n", strings.Join(r.blocked, ", "))
		return ExitFailed
	}

	next, err := mem.Load()
	if err != nil {
		return err
	}
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

	plan, err := deploy.NewPlan(st, cfg.Dir)
	var refused *deploy.RefusedError
	if errors.As(err, &refused) {
		all = append(all, refused.Results...)
		if err := report(env.Stdout, hf.json, all, reasons); err != nil {
			return err
		}
		fmt.Fprintln(env.Stderr, "carto-setup apply: nothing was installed:", strings.TrimPrefix(refused.Error(), "deploy: plan refused: "))
		return ExitFailed
	}
	if err != nil {
		return err
	}

	inst := steps.NewInstaller(steps.InstallConfig{Log: log, Store: store, ReleaseDir: cfg.Dir, Project: cfg.Project,
		Expect: cfg.Expect, Now: env.Now, EnsureImages: w.EnsureImages})
	err = inst.Install(ctx, plan, env.Stderr)
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
		if rerr := report(env.Stdout, hf.json, all, reasons); rerr != nil {
			return rerr
		}
		if de != nil {
			fmt.Fprintln(env.Stderr, "carto-setup apply: install failed:", strings.TrimPrefix(de.Error(), "deploy: "))
		} else {
			fmt.Fprintln(env.Stderr, "carto-setup apply: install failed:", err)
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
	if err := report(env.Stdout, hf.json, all, reasons); err != nil {
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
		return ExitFailed
	}
	for _, r := range smoke.Run.Results {
		if reason := reasons[r.ID]; reason != "" && (r.Status == check.Fail || r.Status == check.Error) {
			progress("Continuing past %s: %s", r.ID, reason)
		}
	}
	progress("Install complete; the smoke test passed. Walk the manual checklist in the wizard's smoke step.")
	return nil
}

// names lists the step names.
func names(ss []stepName) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.name
	}
	return out
}
