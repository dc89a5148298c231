package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/carto-setup/carto-setup/internal/answers"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// stepName is a step as the command line names it. The cache is checked
// on the wizard's database page; here it can also be checked on its own.
type stepName struct {
	name     string
	sections []answers.Section
}

// stepNames are the steps in the order the wizard walks them.
var stepNames = []stepName{
	{"preflight", nil},
	{"package", []answers.Section{answers.SectionPackage}},
	{"domain", []answers.Section{answers.SectionDomain}},
	{"database", []answers.Section{answers.SectionDatabase}},
	{"cache", []answers.Section{answers.SectionCache}},
	{"tls", []answers.Section{answers.SectionDomain, answers.SectionTLS}},
	{"buckets", []answers.Section{answers.SectionBuckets}},
	{"advanced", []answers.Section{answers.SectionAdvanced}},
}

func allStepNames() string {
	var names []string
	for _, s := range stepNames {
		names = append(names, s.name)
	}
	return strings.Join(names, ", ")
}

// pickSteps turns step names into the wizard's order; none means every
// step.
func pickSteps(names []string) ([]string, []answers.Section, error) {
	for _, n := range names {
		if !slices.ContainsFunc(stepNames, func(s stepName) bool { return s.name == n }) {
			return nil, nil, fmt.Errorf("unknown step %q; the steps are %s", n, allStepNames())
		}
	}
	var picked []string
	var sections []answers.Section
	for _, s := range stepNames {
		if len(names) == 0 || slices.Contains(names, s.name) {
			picked = append(picked, s.name)
			for _, sec := range s.sections {
				if !slices.Contains(sections, sec) {
					sections = append(sections, sec)
				}
			}
		}
	}
	return picked, sections, nil
}

// loadAnswers reads and parses the answers file, keeping only the sections
// the steps read after checking that they are there (and the optional ones
// when given), and reads the files and secrets it refers to.
func loadAnswers(path string, getenv func(string) string, sections []answers.Section, optional ...answers.Section) (answers.File, answers.Resolved, error) {
	if path == "" {
		return answers.File{}, answers.Resolved{}, &answers.Error{Problems: []answers.Problem{{Field: "--answers", Reason: "missing; give the answers file"}}}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return answers.File{}, answers.Resolved{}, &answers.Error{Problems: []answers.Problem{{Field: "--answers", Reason: err.Error()}}}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return answers.File{}, answers.Resolved{}, fmt.Errorf("answers: %w", err)
	}
	f, err := answers.Parse(data, filepath.Dir(abs), getenv)
	if err != nil {
		return answers.File{}, answers.Resolved{}, err
	}
	if err := f.Require(sections...); err != nil {
		return answers.File{}, answers.Resolved{}, err
	}
	f = f.Only(append(slices.Clone(sections), optional...)...)
	res, err := answers.Resolve(f, getenv)
	return f, res, err
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
	return ExitInvalid
}

// run is what running the steps on an answers file gave.
type run struct {
	results  []check.Result    // every step's results, in order
	problems []answers.Problem // input refused before any check: exit 2
	blocked  []string          // check IDs that stop the steps: exit 1
}

// runSteps runs the named steps on res with s, as the wizard's handlers
// do on submitted forms, and then continues past each with the answers'
// overrides, by the same rules. The database and the cache share one
// step, as on the wizard's page.
func runSteps(ctx context.Context, s *steps.Steps, names []string, res answers.Resolved, reasons map[string]string, issue bool) (run, error) {
	var r run
	do := func(step wizard.Step, section string, out steps.Outcome, err error) error {
		if err != nil {
			return err
		}
		for _, res := range out.Run.Results {
			res.Result.Field, res.Result.Fixed = res.Field, res.Fixed
			r.results = append(r.results, res.Result)
		}
		if out.Refused() {
			if len(out.Run.Results) == 0 {
				// The input is wrong: the answers file must change.
				for _, field := range sortedKeys(out.Errors) {
					r.problems = append(r.problems, answers.Problem{Field: answers.FieldPath(field, section), Reason: out.Errors[field]})
				}
				return nil
			}
			// Checks ran and refused the input (a package or a
			// certificate that cannot be used): a failed check.
			for _, res := range out.Run.Results {
				if res.Status == check.Fail || res.Status == check.Error {
					r.blocked = append(r.blocked, res.ID)
				}
			}
			return nil
		}
		cont, _, err := s.Continue(step, reasons)
		if err != nil {
			return err
		}
		for _, res := range cont.Run.Results {
			if _, ok := cont.Errors[wizard.OverrideField(res.ID)]; ok && !slices.Contains(r.blocked, res.ID) {
				r.blocked = append(r.blocked, res.ID)
			}
		}
		return nil
	}
	has := func(n string) bool { return slices.Contains(names, n) }
	var err error
	if has("preflight") {
		out, e := s.Preflight(ctx)
		err = errors.Join(err, do(wizard.Preflight, "preflight", out, e))
	}
	if has("package") && res.Package != nil {
		out, e := s.Package(*res.Package)
		err = errors.Join(err, do(wizard.Package, "package", out, e))
	}
	if has("domain") && res.Domain != nil {
		out, e := s.Domain(ctx, *res.Domain)
		err = errors.Join(err, do(wizard.Domain, "domain", out, e))
	}
	if has("database") || has("cache") {
		var f steps.DatabaseForm
		if has("database") {
			f.DB = res.Database
		}
		if has("cache") {
			f.Cache = res.Cache
		}
		section := "database"
		if f.DB == nil {
			section = "cache"
		}
		out, e := s.Database(ctx, f)
		err = errors.Join(err, do(wizard.Database, section, out, e))
	}
	if has("tls") && res.TLS != nil {
		f := *res.TLS
		f.NoIssue = !issue
		out, e := s.TLS(ctx, f)
		err = errors.Join(err, do(wizard.TLS, "tls", out, e))
	}
	if has("buckets") && res.Buckets != nil {
		out, e := s.Buckets(ctx, *res.Buckets)
		err = errors.Join(err, do(wizard.Buckets, "buckets", out, e))
	}
	if has("advanced") && res.Advanced != nil {
		out, e := s.Advanced(ctx, *res.Advanced)
		err = errors.Join(err, do(wizard.Advanced, "advanced", out, e))
	}
	slices.SortStableFunc(r.problems, func(a, b answers.Problem) int { return strings.Compare(a.Field, b.Field) })
	return r, err
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
