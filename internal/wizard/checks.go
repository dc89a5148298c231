package wizard

import (
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
)

// StoredResult is a check result as the state keeps it: the result plus the
// form field it belongs to and whether it can be overridden, which the
// headless JSON shape leaves out.
type StoredResult struct {
	check.Result
	Field string `json:"field,omitempty"`
	Fixed bool   `json:"fixed,omitempty"`
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
		run.Results = append(run.Results, StoredResult{Result: r, Field: r.Field, Fixed: r.Fixed})
	}
	return run
}

// OverrideField is the form field where the admin types why they continue
// past a failed check.
func OverrideField(checkID string) string { return "override." + checkID }

// WarningReason is recorded when the admin continues past a warning, which
// needs no typed reason.
const WarningReason = "continued past a warning"

// Gate decides whether the admin may continue past a step's results. A
// failure (or a check that could not run) that cannot be overridden blocks;
// any other failure needs a typed reason in reasons (keyed by check ID);
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
			switch {
			case r.Fixed:
				errs.Add(OverrideField(r.ID), "This check cannot be overridden: fix it and run the checks again.")
			case reasons[r.ID] == "":
				errs.Add(OverrideField(r.ID), "Fix this and run the checks again, or type why you continue anyway.")
			default:
				ovs = append(ovs, Override{Check: r.ID, Reason: reasons[r.ID], At: now.UTC()})
			}
		}
	}
	if len(errs) > 0 {
		return errs, nil
	}
	return nil, ovs
}
