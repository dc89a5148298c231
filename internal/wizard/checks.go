package wizard

import (
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
)

// StoredResult is a check result as the state keeps it: the result plus the
// form field it belongs to and whether it can be overridden, which the
// headless JSON shape leaves out.
type StoredResult struct {
	check.Result
	Field     string `json:"field,omitempty"`
	Fixed     bool   `json:"fixed,omitempty"`
	CoveredBy string `json:"covered_by,omitempty"`
}

// CheckRun is the last run of a step's checks.
type CheckRun struct {
	At      time.Time      `json:"at"`
	Results []StoredResult `json:"results"`
}

// NewCheckRun wraps results for storage.
func NewCheckRun(at time.Time, results []check.Result) CheckRun {
	run := CheckRun{At: at.UTC()}
	for _, r := range results {
		run.Results = append(run.Results, StoredResult{Result: r, Field: r.Field, Fixed: r.Fixed, CoveredBy: r.CoveredBy})
	}
	return run
}

// OverrideField is the form field where the admin types why they continue
// past a failed check.
func OverrideField(checkID string) string { return "override." + checkID }

// WarningReason is recorded when the admin continues past a warning, which
// needs no typed reason.
const WarningReason = "continued past a warning"

// failing reports whether r failed or could not run.
func failing(r StoredResult) bool { return r.Status == check.Fail || r.Status == check.Error }

// Cause returns the failing result of results that covers r (r.CoveredBy),
// if there is one.
func Cause(results []StoredResult, r StoredResult) (StoredResult, bool) {
	if r.CoveredBy == "" || !failing(r) {
		return StoredResult{}, false
	}
	for _, c := range results {
		if c.ID == r.CoveredBy && failing(c) {
			return c, true
		}
	}
	return StoredResult{}, false
}

// Gate decides whether the admin may continue past a step's results. A
// failure (or a check that could not run) that cannot be overridden blocks;
// any other failure needs a typed reason in reasons (keyed by check ID),
// except one covered by another failing check, whose reason covers it too;
// warnings pass and are recorded. It returns the problems by override field
// and the overrides to record when there are none.
func Gate(results []StoredResult, reasons map[string]string, now time.Time) (FieldErrors, []Override) {
	errs := FieldErrors{}
	var ovs []Override
	for _, r := range results {
		switch r.Status {
		case check.Pass:
		case check.Warn:
			ovs = append(ovs, Override{Check: r.ID, Reason: WarningReason, At: now.UTC()})
		case check.Fail, check.Error:
			cause, covered := Cause(results, r)
			switch {
			case r.Fixed:
				errs.Add(OverrideField(r.ID), "This check cannot be overridden: fix it and run the checks again.")
			case reasons[r.ID] != "":
				ovs = append(ovs, Override{Check: r.ID, Reason: reasons[r.ID], At: now.UTC()})
			case covered && cause.Fixed:
				// The cause blocks on its own.
			case covered && reasons[cause.ID] == "":
				// The cause asks for the one reason.
			case covered:
				ovs = append(ovs, Override{Check: r.ID, Reason: reasons[cause.ID] + " (the reason given for " + cause.ID + ")", At: now.UTC()})
			default:
				errs.Add(OverrideField(r.ID), "Fix this and run the checks again, or type why you continue anyway.")
			}
		}
	}
	if len(errs) > 0 {
		return errs, nil
	}
	return nil, ovs
}

// RecordRun stores a new check run of step s and drops the overrides it
// makes stale: every override of the step when its input changed (the
// reason was given for other settings), and otherwise each override whose
// check now passes or no longer runs. An override belongs to the step when
// its check is in the old or the new run, or is named after the step.
func (st *State) RecordRun(s Step, run CheckRun, inputChanged bool) {
	now := map[string]StoredResult{}
	for _, r := range run.Results {
		now[r.ID] = r
	}
	mine := map[string]bool{}
	for _, r := range st.Checks[s].Results {
		mine[r.ID] = true
	}
	for id := range now {
		mine[id] = true
	}
	kept := st.Overrides[:0:0]
	for _, o := range st.Overrides {
		if mine[o.Check] || strings.HasPrefix(o.Check, string(s)+".") {
			r, ok := now[o.Check]
			if inputChanged || !ok || r.Status == check.Pass {
				continue
			}
		}
		kept = append(kept, o)
	}
	st.Overrides = kept
	st.SetChecks(s, run)
}

// Reasons returns the reasons saved for the failures of run, by check ID,
// to fill the form's reason fields again.
func (st State) Reasons(run CheckRun) map[string]string {
	out := map[string]string{}
	for _, r := range run.Results {
		if o, ok := st.Overridden(r.ID); ok && failing(r) && o.Reason != WarningReason && r.CoveredBy == "" {
			out[r.ID] = o.Reason
		}
	}
	return out
}
