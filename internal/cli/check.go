package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"github.com/carto-setup/carto-setup/internal/answers"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// CheckUsage documents `carto-setup check`.
const CheckUsage = `  carto-setup check [STEP ...] --answers FILE [--json] [--dir DIR] [--state-dir DIR]
        run the checks of the steps (preflight, package, domain, database, cache,
        tls, buckets, advanced; all when none is named) on an answers file, and
        the rules apply writes customer.env by; exit 1 when a check failed, 2
        when the answers file is invalid
`

// headlessFlags are the flags of check and apply besides the shared ones.
type headlessFlags struct {
	answers string
	json    bool
}

func (h *headlessFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&h.answers, "answers", "", "the answers file (YAML, version: 1)")
	fs.BoolVar(&h.json, "json", false, `print {"checks": [...]} as JSON instead of a table`)
}

// seed is the state the steps of a headless run start from: the domain and
// the buckets of the answers are known before their steps run, as the TLS
// step and the preflight egress checks need them.
func seed(st wizard.State, res answers.Resolved) wizard.State {
	if res.Domain != nil && res.Domain.Name() != "" {
		st.Domain.Domain = res.Domain.Name()
	}
	if res.Buckets != nil {
		st.Buckets = res.Buckets.BucketsInput
	}
	return st
}

// Check is `carto-setup check [STEP ...] --answers FILE [--json]`: the
// validation and live checks of the steps, on a state in memory.
func Check(ctx context.Context, env Env, args []string) error {
	var hf headlessFlags
	cfg, names, err := parse("carto-setup check", CheckUsage, args, env.Getenv, env.Stderr, hf.register)
	if err != nil {
		return err
	}
	picked, sections, err := pickSteps(names)
	if err != nil {
		fmt.Fprintln(env.Stderr, "carto-setup check:", err)
		return ExitInvalid
	}
	f, res, err := loadAnswers(hf.answers, env.Getenv, sections)
	if err != nil {
		return invalid(env.Stderr, hf.answers, err)
	}
	log, _ := consoleLogger(env, slog.LevelWarn, answersSecrets(res)...)
	w, err := env.Wire(ctx, cfg, log, WireOptions{Output: env.Stderr})
	if err != nil {
		return err
	}
	defer w.Close()
	mem := wizard.NewMemStore(seed(wizard.State{}, res))
	s := steps.New(w.Steps, mem)
	reasons := f.Reasons()
	r, err := runSteps(ctx, s, picked, res, reasons, false)
	if err != nil {
		return err
	}
	if len(r.problems) > 0 {
		return invalid(env.Stderr, hf.answers, &answers.Error{Problems: r.problems})
	}
	// The rules apply writes customer.env by: a value apply would refuse
	// fails here, under the same check ID.
	st, err := mem.Load()
	if err != nil {
		return err
	}
	for _, v := range deploy.ValueChecks(st) {
		r.results = append(r.results, v)
		r.blocked = append(r.blocked, v.ID)
	}
	if notice, err := releaseNotice(ctx, w.Config); err != nil {
		return err
	} else if notice != nil {
		r.results = append([]check.Result{*notice}, r.results...)
	}
	if err := report(env.Stdout, hf.json, r.results, reasons); err != nil {
		return err
	}
	if len(r.blocked) > 0 {
		fmt.Fprintf(env.Stderr, "carto-setup check: failed: %s\n", strings.Join(blockedNames(r.results, r.blocked), ", "))
		return ExitFailed
	}
	return nil
}
