package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/carto-setup/carto-setup/internal/answers"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/deploy"
)

// resolveFlag collects --resolve KEY=mine|wizard, which settles the
// conflict of a hand edit with the install (a customer.env key, or a file
// of certs/ by its path).
type resolveFlag map[string]deploy.Resolution

func (r resolveFlag) String() string {
	var parts []string
	for k, v := range r {
		parts = append(parts, k+"="+string(v))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func (r resolveFlag) Set(s string) error {
	key, v, ok := strings.Cut(s, "=")
	res := deploy.Resolution(v)
	if !ok || key == "" || (res != deploy.KeepMine && res != deploy.TakeWizard) {
		return fmt.Errorf("want KEY=%s or KEY=%s, got %q", deploy.KeepMine, deploy.TakeWizard, s)
	}
	r[key] = res
	return nil
}

// failedNames names each failed result by its ID and, when it is about a
// value of the answers, the answers file's field: "id (database.x_file)".
func failedNames(results []check.Result) []string {
	var out []string
	for _, r := range results {
		if r.Status != check.Fail && r.Status != check.Error {
			continue
		}
		name := r.ID
		if path := answers.FieldPath(r.Field, ""); path != "" {
			name += " (" + path + ")"
		}
		out = append(out, name)
	}
	return out
}

// blockedNames names the blocked check IDs as failedNames does, with the
// answers field of the result that has one.
func blockedNames(results []check.Result, blocked []string) []string {
	out := make([]string, 0, len(blocked))
	for _, id := range blocked {
		name := id
		if i := slices.IndexFunc(results, func(r check.Result) bool { return r.ID == id && r.Field != "" }); i >= 0 {
			if path := answers.FieldPath(results[i].Field, ""); path != "" {
				name += " (" + path + ")"
			}
		}
		out = append(out, name)
	}
	return out
}

// reportPlan prints the checks and, when a plan was made, what it does:
// {"checks": [...], "plan": {...}} as JSON, or the table followed by the
// plan in sentences.
func reportPlan(w io.Writer, asJSON bool, results []check.Result, reasons map[string]string, plan *deploy.Report) error {
	if asJSON {
		if results == nil {
			results = []check.Result{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Checks []check.Result `json:"checks"`
			Plan   *deploy.Report `json:"plan,omitempty"`
		}{results, plan})
	}
	if err := report(w, false, results, reasons); err != nil {
		return err
	}
	if plan == nil {
		return nil
	}
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	changes := func(title string, cs []deploy.KeyChange) {
		if len(cs) == 0 {
			return
		}
		p("\n%s:", title)
		for _, c := range cs {
			switch c.Kind {
			case "added":
				p("  %s added: %s", c.Key, c.To)
			case "removed":
				p("  %s removed (was %s)", c.Key, c.From)
			default:
				p("  %s: %s -> %s", c.Key, c.From, c.To)
			}
		}
	}
	if len(plan.Conflicts) > 0 {
		p("\nConflicts with your hand edits:")
		for _, c := range plan.Conflicts {
			state := "open: --resolve " + c.Key + "=mine keeps yours, --resolve " + c.Key + "=wizard takes the proposed one"
			if c.Resolution != "" {
				state = "resolved: " + string(c.Resolution)
			}
			p("  %s (%s)", c, state)
		}
	}
	changes("Kept from your edits", plan.KeptEdits)
	changes("Changed by the new customer package", plan.PackageChanges)
	changes("Replaced by the answers (customer.env is backed up)", plan.Overwritten)
	for _, k := range plan.EnvTplOverrides {
		p("\nWarning: %s is set in customer.env, but env.tpl sets it again in .env and wins: the customer.env value has no effect.", k)
	}
	for _, n := range plan.Notices {
		p("\nNote: %s", n)
	}
	p("\nFiles:")
	for _, f := range plan.Files {
		extra := ""
		if f.Backup {
			extra = ", backed up first"
		}
		if len(f.Readers) > 0 {
			extra += ", readable by " + strings.Join(f.Readers, ", ")
		}
		p("  %s %s%s", f.Action, f.Path, extra)
	}
	for _, r := range plan.Restarts {
		p("Restart: %s (%s changes)", r.Service, strings.Join(r.Files, ", "))
	}
	return nil
}
