package app

import (
	"context"
	"encoding/json"
	"errors"
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
	"github.com/carto-setup/carto-setup/internal/buckets"
	"github.com/carto-setup/carto-setup/internal/cachecheck"
	"github.com/carto-setup/carto-setup/internal/certcheck"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/custpkg"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/server"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// Exit statuses of the headless commands (product.md, "Headless mode").
const (
	exitFailed  = exitError(1) // a check failed, or the install did
	exitInvalid = exitError(2) // the answers file (or the command line) is wrong
)

// headlessStep is one step `carto-setup check` can run: its name on the
// command line, the wizard step whose results it stores, and the answers
// sections it reads.
type headlessStep struct {
	name     string
	wizard   wizard.Step
	sections []answers.Section
}

// headlessSteps are the steps in the order the wizard walks them; the cache
// is checked on the wizard's database page, here on its own.
var headlessSteps = []headlessStep{
	{"preflight", wizard.Preflight, nil},
	{"package", wizard.Package, []answers.Section{answers.SectionPackage}},
	{"domain", wizard.Domain, []answers.Section{answers.SectionDomain}},
	{"database", wizard.Database, []answers.Section{answers.SectionDatabase}},
	{"cache", wizard.Database, []answers.Section{answers.SectionCache}},
	{"tls", wizard.TLS, []answers.Section{answers.SectionDomain, answers.SectionTLS}},
	{"buckets", wizard.Buckets, []answers.Section{answers.SectionBuckets}},
}

// headless runs the wizard's steps from an answers file, with the same
// check functions the wizard's handlers are given.
type headless struct {
	cfg    Config
	checks server.Checkers
	steps  *steps.Steps
	now    func() time.Time
	close  func()
	// issue lets the TLS step obtain an ACME certificate; only apply
	// does, so that `check` never spends the CA's rate limits.
	issue bool
}

// newHeadless wires the live checks as serve does, without the web server:
// the port-80 listener answers domain nonces and ACME challenges while a
// check needs it.
func newHeadless(ctx context.Context, cfg Config, getenv func(string) string, store wizard.Store, log *slog.Logger, now func() time.Time) (*headless, error) {
	lv, err := newLive(cfg, log, now, liveOptions{})
	if err != nil {
		return nil, err
	}
	return &headless{cfg: cfg, checks: checkers(cfg, getenv, store, lv.acme), steps: steps.New(stepDeps(cfg, log, now, lv), store), now: now, close: lv.Close}, nil
}

// resolvedStore gives the checks the answers' state where the wizard gives
// them its store (preflight reads the bucket provider from it).
type resolvedStore struct{ st *wizard.State }

func (s resolvedStore) Load() (wizard.State, error) { return *s.st, nil }

func (s resolvedStore) Update(fn func(*wizard.State) error) (wizard.State, error) {
	next := *s.st
	if err := fn(&next); err != nil {
		return wizard.State{}, err
	}
	*s.st = next
	return next, nil
}

// stepOutcome is what one step reported: its results, and the problems of
// the answers that the wizard would have shown as form errors before any
// check (exit status 2 here).
type stepOutcome struct {
	step     headlessStep
	results  []check.Result
	problems []answers.Problem
}

// run runs one step on the resolved answers, as the wizard's step handler
// does on a submitted form. The TLS step also stores in res.State the
// certificate the install will write.
func (h *headless) run(ctx context.Context, s headlessStep, res *answers.Resolved) stepOutcome {
	out := stepOutcome{step: s}
	st := &res.State
	switch s.name {
	case "preflight":
		out.results = h.checks.Preflight(ctx)
	case "package":
		// The wizard refuses a package that fails its checks: no override.
		for _, r := range res.Package {
			r.Fixed = r.Status == check.Fail
			out.results = append(out.results, r)
		}
	case "domain":
		o, err := h.steps.Domain(ctx, steps.DomainForm{Domain: st.Domain.Domain})
		if err != nil {
			out.results = []check.Result{{Step: "domain", ID: "domain.run", Status: check.Error, Message: "The domain checks could not run: " + err.Error()}}
			break
		}
		for field, msg := range o.Errors {
			out.problems = append(out.problems, answers.Problem{Field: answers.FieldPath(field, "domain"), Reason: msg})
		}
		st.Domain = o.State.Domain
		for _, r := range o.Run.Results {
			r.Result.Field, r.Result.Fixed = r.Field, r.Fixed
			out.results = append(out.results, r.Result)
		}
	case "database":
		out.results = h.checks.Database(ctx, st.Database, wizard.CacheInput{})
	case "cache":
		if st.Cache.Mode == wizard.ModeExternal {
			for _, r := range h.checks.Database(ctx, wizard.DatabaseInput{Mode: wizard.ModeEmbedded}, st.Cache) {
				if r.Step == cachecheck.Step {
					out.results = append(out.results, r)
				}
			}
		}
	case "tls":
		out.results = h.tls(ctx, res)
	case "buckets":
		if st.Buckets.Mode == wizard.BucketsCartoManaged {
			out.results = []check.Result{buckets.CartoManaged()}
			break
		}
		for field, msg := range h.checks.ValidateBuckets(st.Buckets) {
			out.problems = append(out.problems, answers.Problem{Field: answers.FieldPath(field, "buckets"), Reason: msg})
		}
		if len(out.problems) == 0 {
			out.results = h.checks.Buckets(ctx, st.Buckets)
		}
	}
	// A result about the configuration itself is a form error in the
	// wizard: nothing is checked until the form makes sense.
	for _, r := range out.results {
		if r.Status == check.Fail && strings.HasSuffix(r.ID, ".config") {
			out.problems = append(out.problems, answers.Problem{Field: answers.FieldPath(r.Field, s.name), Reason: r.Message})
		}
	}
	slices.SortFunc(out.problems, func(a, b answers.Problem) int { return strings.Compare(a.Field, b.Field) })
	return out
}

// tls makes, checks or obtains the router certificate for the mode, as the
// wizard's TLS step does, and keeps it in the state when it can be used.
func (h *headless) tls(ctx context.Context, res *answers.Resolved) []check.Result {
	st := &res.State
	in, domain, now := st.TLS, st.Domain.Domain, h.now()
	lint := func(certPEM, chainPEM, keyPEM string) certcheck.Report {
		return certcheck.Lint(certcheck.Input{Domain: domain, CertPEM: []byte(certPEM), ChainPEM: []byte(chainPEM), KeyPEM: []byte(keyPEM)}, now, nil)
	}
	switch in.Mode {
	case wizard.TLSSelfSigned:
		// A certificate made earlier (an exported state) is kept, so that
		// replaying the answers writes the same certs/.
		if rep := lint(in.CertPEM, "", in.KeyPEM); in.CertPEM != "" && rep.Usable() {
			st.TLS = wizard.TLSInput{Mode: in.Mode, CertPEM: in.CertPEM, KeyPEM: in.KeyPEM, Fingerprint: rep.Fingerprint}
		} else {
			certPEM, keyPEM, fp, err := certcheck.SelfSigned(domain, now)
			if err != nil {
				return []check.Result{{Step: certcheck.Step, ID: certcheck.IDSelfSigned, Status: check.Error, Fixed: true,
					Message: "The self-signed certificate could not be made.", Hint: "Check the domain section."}}
			}
			st.TLS = wizard.TLSInput{Mode: in.Mode, CertPEM: string(certPEM), KeyPEM: string(keyPEM), Fingerprint: fp}
		}
		return []check.Result{certcheck.SelfSignedNotice(domain)}
	case wizard.TLSUpload:
		rep := lint(in.CertPEM, res.TLSChain, in.KeyPEM)
		st.TLS = wizard.TLSInput{Mode: in.Mode}
		if rep.Usable() {
			st.TLS = wizard.TLSInput{Mode: in.Mode, CertPEM: string(rep.FullChainPEM), KeyPEM: string(rep.KeyPEM), Fingerprint: rep.Fingerprint}
		}
		return rep.Results
	case wizard.TLSACME:
		dir := in.ACMEDirectory
		if dir == "" {
			dir = h.cfg.ACMEDirectory
		}
		// A certificate obtained earlier is kept while it passes every
		// check; otherwise a new one is obtained. Choosing acme in the
		// answers file accepts the CA's terms of service.
		if in.CertPEM != "" {
			if rep := lint(in.CertPEM, "", in.KeyPEM); rep.Usable() && !check.Failed(rep.Results) {
				st.TLS = wizard.TLSInput{Mode: in.Mode, CertPEM: string(rep.FullChainPEM), KeyPEM: string(rep.KeyPEM), Fingerprint: rep.Fingerprint,
					ACMEEmail: in.ACMEEmail, ACMEDirectory: dir}
				return rep.Results
			}
		}
		if !h.issue {
			st.TLS = wizard.TLSInput{Mode: in.Mode, ACMEEmail: in.ACMEEmail, ACMEDirectory: dir}
			return []check.Result{{Step: certcheck.Step, ID: "tls.acme", Status: check.Warn, Measured: "not issued yet", Required: "a certificate from " + dir,
				Message: "apply obtains the certificate from " + dir + "; check does not, to spare the CA's rate limits.",
				Hint:    "The domain step's checks show whether the CA can reach this VM on port 80."}}
		}
		actx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		certPEM, keyPEM, account, err := h.checks.ACME(actx, domain, in.ACMEEmail, dir, nil)
		if err != nil {
			msg := "The certificate could not be obtained."
			var ae server.ACMEError
			if errors.As(err, &ae) {
				msg = ae.Message()
			}
			st.TLS = wizard.TLSInput{Mode: in.Mode, ACMEEmail: in.ACMEEmail, ACMEDirectory: dir}
			return []check.Result{{Step: certcheck.Step, ID: "tls.acme", Status: check.Fail, Fixed: true, Measured: "not issued", Required: "a certificate from " + dir,
				Message: msg, Hint: "Port 80 of this VM must be reachable from the internet at the domain while the certificate is issued."}}
		}
		rep := lint(string(certPEM), "", string(keyPEM))
		st.TLS = wizard.TLSInput{Mode: in.Mode, CertPEM: string(rep.FullChainPEM), KeyPEM: string(rep.KeyPEM), Fingerprint: rep.Fingerprint,
			ACMEEmail: in.ACMEEmail, ACMEDirectory: dir, ACMEAccount: string(account)}
		if len(rep.FullChainPEM) == 0 {
			st.TLS.CertPEM, st.TLS.KeyPEM = string(certPEM), string(keyPEM)
		}
		return rep.Results
	}
	return nil
}

// gated is a step's results after the overrides: blocked lists the results
// that stop the step (a failure or a check that could not run, with no
// reason given or one that cannot be overridden), overrides what to record.
type gated struct {
	blocked   []string
	overrides []wizard.Override
}

// gate applies the answers' overrides to results as wizard.Gate does for a
// step the admin continues past.
func gate(results []check.Result, reasons map[string]string, now time.Time) gated {
	run := wizard.NewCheckRun(now, results)
	errs, ovs := wizard.Gate(run.Results, reasons, now)
	var g gated
	for _, r := range run.Results {
		if _, ok := errs[wizard.OverrideField(r.ID)]; ok && !slices.Contains(g.blocked, r.ID) {
			g.blocked = append(g.blocked, r.ID)
		}
	}
	g.overrides = ovs
	return g
}

// headlessFlags are the flags of check and apply besides Config's.
type headlessFlags struct {
	answers string
	json    bool
}

// parseHeadless parses a headless command's flags, which may come before
// or after its step names.
func parseHeadless(name string, args []string, getenv func(string) string, stderr io.Writer) (Config, headlessFlags, []string, error) {
	var hf headlessFlags
	extra := func(fs *flag.FlagSet) {
		fs.StringVar(&hf.answers, "answers", "", "the answers file (YAML, version: 1)")
		fs.BoolVar(&hf.json, "json", false, `print {"checks": [...]} as JSON instead of a table`)
	}
	_, probe, _ := loadConfig(name, nil, getenv, io.Discard, extra)
	flags, positional := splitArgs(probe, args)
	hf = headlessFlags{}
	cfg, _, err := loadConfig(name, flags, getenv, stderr, extra)
	if err != nil {
		if errors.Is(err, errHelp) {
			return cfg, hf, nil, err
		}
		return cfg, hf, nil, exitInvalid
	}
	return cfg, hf, positional, nil
}

// splitArgs separates flags (with their values) from positional arguments,
// so that `check tls --answers f` and `check --answers f tls` both work.
func splitArgs(fs *flag.FlagSet, args []string) (flags, positional []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return flags, append(positional, args[i+1:]...)
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // the parser names it
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return flags, positional
}

// loadAnswers reads and parses the answers file, keeping only the sections
// the steps read after checking that they are there.
func loadAnswers(path string, getenv func(string) string, sections []answers.Section) (answers.File, error) {
	if path == "" {
		return answers.File{}, &answers.Error{Problems: []answers.Problem{{Field: "--answers", Reason: "missing; give the answers file"}}}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return answers.File{}, &answers.Error{Problems: []answers.Problem{{Field: "--answers", Reason: err.Error()}}}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return answers.File{}, fmt.Errorf("answers: %w", err)
	}
	f, err := answers.Parse(data, filepath.Dir(abs), getenv)
	if err != nil {
		return answers.File{}, err
	}
	if err := f.Require(sections...); err != nil {
		return answers.File{}, err
	}
	return f.Only(sections...), nil
}

// invalid reports an invalid answers file on stderr and returns exit
// status 2.
func invalid(stderr io.Writer, path string, err error) error {
	var ae *answers.Error
	if !errors.As(err, &ae) {
		return err
	}
	fmt.Fprintf(stderr, "carto-setup: the answers file %s is invalid:\n", path)
	for _, p := range ae.Problems {
		fmt.Fprintf(stderr, "  %s\n", p)
	}
	return exitInvalid
}

// releaseOf reads the release's version files, which the package is
// checked against, as the package step does.
func releaseOf(dir string) custpkg.Release {
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		return strings.TrimSpace(string(b))
	}
	return custpkg.Release{Version: read("VERSION"), MinVersion: read("MIN_VERSION")}
}

// runSteps resolves the answers and runs the steps in the wizard's order
// with the wizard's checks. It returns exit status 2 (having said why) when
// the answers are invalid.
func runSteps(ctx context.Context, cfg Config, path string, f answers.File, steps []headlessStep, issue bool, getenv func(string) string, stderr io.Writer, now func() time.Time) (answers.Resolved, []stepOutcome, error) {
	res, err := answers.Resolve(f, getenv, releaseOf(cfg.Dir))
	if err != nil {
		return res, nil, invalid(stderr, path, err)
	}
	h, err := newHeadless(ctx, cfg, getenv, resolvedStore{&res.State}, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), now)
	if err != nil {
		return res, nil, err
	}
	defer h.close()
	h.issue = issue
	var outs []stepOutcome
	var problems []answers.Problem
	for _, s := range steps {
		o := h.run(ctx, s, &res)
		outs = append(outs, o)
		problems = append(problems, o.problems...)
	}
	if err := answers.NewProblems(problems); err != nil {
		return res, outs, invalid(stderr, path, err)
	}
	return res, outs, nil
}

// pickSteps turns step names into steps in the wizard's order; none means
// every step.
func pickSteps(names []string) ([]headlessStep, error) {
	if len(names) == 0 {
		return headlessSteps, nil
	}
	for _, n := range names {
		if !slices.ContainsFunc(headlessSteps, func(s headlessStep) bool { return s.name == n }) {
			return nil, fmt.Errorf("unknown step %q; the steps are %s", n, stepNames())
		}
	}
	var out []headlessStep
	for _, s := range headlessSteps {
		if slices.Contains(names, s.name) {
			out = append(out, s)
		}
	}
	return out, nil
}

func stepNames() string {
	var names []string
	for _, s := range headlessSteps {
		names = append(names, s.name)
	}
	return strings.Join(names, ", ")
}

func sectionsOf(steps []headlessStep) []answers.Section {
	var out []answers.Section
	for _, s := range steps {
		for _, sec := range s.sections {
			if !slices.Contains(out, sec) {
				out = append(out, sec)
			}
		}
	}
	return out
}

// runCheck is `carto-setup check [STEP ...] --answers FILE [--json]`.
func runCheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, o options) error {
	cfg, hf, names, err := parseHeadless("carto-setup check", args, getenv, stderr)
	if err != nil {
		return err
	}
	steps, err := pickSteps(names)
	if err != nil {
		fmt.Fprintln(stderr, "carto-setup check:", err)
		return exitInvalid
	}
	f, err := loadAnswers(hf.answers, getenv, sectionsOf(steps))
	if err != nil {
		return invalid(stderr, hf.answers, err)
	}
	_, outs, err := runSteps(ctx, cfg, hf.answers, f, steps, false, getenv, stderr, o.now)
	if err != nil {
		return err
	}
	reasons := f.Reasons()
	var all []check.Result
	var blocked []string
	for _, out := range outs {
		all = append(all, out.results...)
		blocked = append(blocked, gate(out.results, reasons, o.now()).blocked...)
	}
	if err := report(stdout, hf.json, all, reasons); err != nil {
		return err
	}
	if len(blocked) > 0 {
		fmt.Fprintf(stderr, "carto-setup check: failed: %s\n", strings.Join(blocked, ", "))
		return exitFailed
	}
	return nil
}

// report prints results as {"checks": [...]} or as a table with the hints
// of what did not pass below it.
func report(w io.Writer, asJSON bool, results []check.Result, reasons map[string]string) error {
	if asJSON {
		if results == nil {
			results = []check.Result{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Checks []check.Result `json:"checks"`
		}{results})
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tID\tMEASURED\tREQUIRED\tMESSAGE")
	var notes []string
	counts := map[check.Status]int{}
	overridden := 0
	for _, r := range results {
		counts[r.Status]++
		status := string(r.Status)
		if reason := reasons[r.ID]; reason != "" && !r.Fixed && (r.Status == check.Fail || r.Status == check.Error) {
			status += " (overridden)"
			overridden++
			notes = append(notes, fmt.Sprintf("%s: overridden: %s", r.ID, reason))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", status, r.ID, cell(r.Measured), cell(r.Required), r.Message)
		if r.Status != check.Pass && r.Hint != "" {
			notes = append(notes, fmt.Sprintf("%s: %s", r.ID, r.Hint))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nHints:")
		for _, n := range notes {
			fmt.Fprintln(w, "  "+n)
		}
	}
	_, err := fmt.Fprintf(w, "\n%d passed, %d warnings, %d failed, %d could not run; %d overridden.\n",
		counts[check.Pass], counts[check.Warn], counts[check.Fail], counts[check.Error], overridden)
	return err
}

func cell(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// runApply is `carto-setup apply --answers FILE [--json]`: every step's
// checks, then the wizard's install (plan, write, Compose up, wait).
func runApply(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, o options) error {
	cfg, hf, rest, err := parseHeadless("carto-setup apply", args, getenv, stderr)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "carto-setup apply: unexpected argument %q; apply runs every step\n", rest[0])
		return exitInvalid
	}
	if cfg.Demo {
		if err := prepareDemo(&cfg, stderr); err != nil {
			return err
		}
		if cfg.StandinBinary == "" {
			if cfg.StandinBinary, err = os.Executable(); err != nil {
				return fmt.Errorf("demo: %w", err)
			}
		}
	}
	f, err := loadAnswers(hf.answers, getenv, []answers.Section{answers.SectionPackage, answers.SectionDomain,
		answers.SectionDatabase, answers.SectionCache, answers.SectionTLS, answers.SectionBuckets})
	if err != nil {
		return invalid(stderr, hf.answers, err)
	}
	if err := ensureStateDir(cfg.StateDir); err != nil {
		return err
	}
	progress := func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }

	progress("Checking every step.")
	res, outs, err := runSteps(ctx, cfg, hf.answers, f, headlessSteps, true, getenv, stderr, o.now)
	if err != nil {
		return err
	}
	reasons := f.Reasons()
	var all []check.Result
	var blocked []string
	var overrides []wizard.Override
	for _, out := range outs {
		all = append(all, out.results...)
		g := gate(out.results, reasons, o.now())
		blocked = append(blocked, g.blocked...)
		overrides = append(overrides, g.overrides...)
	}
	if len(blocked) > 0 {
		if err := report(stdout, hf.json, all, reasons); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "carto-setup apply: nothing was installed: these checks failed: %s\n", strings.Join(blocked, ", "))
		return exitFailed
	}

	// Record what the wizard would have: the answers, the check runs, the
	// overrides, every step up to the review done.
	store := wizard.NewFileStore(filepath.Join(cfg.StateDir, "state.json"), o.now)
	st, err := store.Update(func(s *wizard.State) error {
		next := res.State
		s.Package, s.Domain, s.Database, s.Cache, s.TLS, s.Buckets = next.Package, next.Domain, next.Database, next.Cache, next.TLS, next.Buckets
		for _, out := range outs {
			run := wizard.NewCheckRun(o.now(), out.results)
			if prev, ok := s.Checks[out.step.wizard]; ok && out.step.name == "cache" {
				run.Results = append(prev.Results, run.Results...) // the database page shows both
			}
			s.SetChecks(out.step.wizard, run)
		}
		for _, ov := range overrides {
			s.AddOverride(ov)
		}
		for _, step := range []wizard.Step{wizard.Preflight, wizard.Package, wizard.Domain, wizard.Database, wizard.TLS, wizard.Buckets, wizard.Review} {
			s.MarkDone(step)
		}
		delete(s.Done, wizard.Install)
		return nil
	})
	if err != nil {
		return err
	}
	for _, ov := range overrides {
		if ov.Reason != wizard.WarningReason {
			progress("Continuing past %s: %s", ov.Check, ov.Reason)
		}
	}

	plan, err := deploy.NewPlan(st, cfg.Dir)
	var refused *deploy.RefusedError
	if errors.As(err, &refused) {
		all = append(all, refused.Results...)
		if err := report(stdout, hf.json, all, reasons); err != nil {
			return err
		}
		fmt.Fprintln(stderr, "carto-setup apply: nothing was installed:", strings.TrimPrefix(refused.Error(), "deploy: plan refused: "))
		return exitFailed
	}
	if err != nil {
		return err
	}

	log := slog.New(slog.NewTextHandler(stderr, nil))
	inst := newInstaller(log, nil, store, cfg, o.now)
	run := &installRun{hub: logstream.NewHub(logstream.HubConfig{}), board: deploy.NewBoard(deploy.BoardConfig{}), plan: plan}
	err = inst.install(ctx, run, stderr)
	installResult := check.Result{Step: "install", ID: "install.deploy", Status: check.Pass,
		Measured: "every service in its expected state", Required: "every service in its expected state",
		Message: "The stack is installed and every service reached its expected state."}
	if err != nil {
		installResult.Status, installResult.Measured = check.Fail, "failed"
		installResult.Message, installResult.Hint = "The install failed.", ""
		var de *deploy.Error
		if errors.As(err, &de) {
			installResult.Measured = de.Step
			installResult.Message, installResult.Hint = de.Message, de.Hint
		}
		all = append(all, installResult)
		if rerr := report(stdout, hf.json, all, reasons); rerr != nil {
			return rerr
		}
		if de != nil {
			fmt.Fprintln(stderr, "carto-setup apply: install failed:", strings.TrimPrefix(de.Error(), "deploy: "))
		} else {
			fmt.Fprintln(stderr, "carto-setup apply: install failed:", err)
		}
		return exitFailed
	}
	all = append(all, installResult)
	if _, err := store.Update(func(s *wizard.State) error { s.MarkDone(wizard.Install); return nil }); err != nil {
		return err
	}

	// The wizard's smoke test, run in the foreground; as in the wizard, a
	// failure here is not overridable.
	progress("Running the smoke test.")
	smoke, err := newSmoker(log, nil, store, cfg, o.now).run(ctx, st)
	if err != nil {
		smoke = []check.Result{{Step: "smoke", ID: "smoke.run", Status: check.Error, Measured: "not run", Required: "the smoke test passes",
			Message: "The smoke test could not run.", Hint: "Read the error above; the release's .env and docker-compose.yml must be readable."}}
		progress("The smoke test could not run: %v", err)
	}
	all = append(all, smoke...)
	w := check.Worst(smoke)
	passed := w != check.Fail && w != check.Error
	if _, err := store.Update(func(s *wizard.State) error {
		s.SetChecks(wizard.Smoke, wizard.NewCheckRun(o.now(), smoke))
		if passed {
			s.MarkDone(wizard.Smoke)
		} else {
			delete(s.Done, wizard.Smoke)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := report(stdout, hf.json, all, reasons); err != nil {
		return err
	}
	if !passed {
		var ids []string
		for _, r := range smoke {
			if r.Status == check.Fail || r.Status == check.Error {
				ids = append(ids, r.ID)
			}
		}
		fmt.Fprintf(stderr, "carto-setup apply: installed, but the smoke test failed: %s\n", strings.Join(ids, ", "))
		return exitFailed
	}
	progress("Install complete; the smoke test passed. Walk the manual checklist in the wizard's smoke step.")
	return nil
}

// runAnswers is `carto-setup answers [--dir DIR] [--state-dir DIR]`: the
// wizard's current answers as an answers file on stdout.
func runAnswers(args []string, getenv func(string) string, stdout, stderr io.Writer, o options) error {
	cfg, fs, err := loadConfig("carto-setup answers", args, getenv, stderr, nil)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("answers: unexpected argument %q", fs.Arg(0))
	}
	path := filepath.Join(cfg.StateDir, "state.json")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("answers: no wizard state in %s: run the wizard (or apply) first", cfg.StateDir)
	}
	if err := ensureStateDir(cfg.StateDir); err != nil {
		return err
	}
	st, err := wizard.NewFileStore(path, o.now).Load()
	if err != nil {
		return err
	}
	out, err := answers.Export(st, cfg.StateDir)
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}
