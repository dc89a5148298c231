// Package check defines the result every live check and validation reports:
// the wizard renders it next to a field, and `carto-setup check --json`
// prints it as is. It holds no check logic of its own.
package check

// Status is the outcome of one check.
type Status string

// The four outcomes a check can have. Error means the check could not run at
// all (for example a timeout before any answer), which is not the same as a
// measured failure.
const (
	Pass  Status = "pass"
	Warn  Status = "warn"
	Fail  Status = "fail"
	Error Status = "error"
)

// Result is one check's outcome. ID is stable ("database.auth", "tls.san")
// because automation is written against it. Measured and Required hold what
// was seen and what is needed, Message says what happened in a sentence and
// Hint how to fix it. Field names the form field a failure belongs to so the
// wizard can render it inline; Fixed marks results that cannot be overridden
// (overrides.md lists every ID and when it is fixed). CoveredBy names the
// check whose failure explains this one (no DNS record explains why the
// domain cannot be fetched): while that check fails too, its reason covers
// this failure and no separate one is asked for.
type Result struct {
	Step      string `json:"step"`
	ID        string `json:"id"`
	Status    Status `json:"status"`
	Measured  string `json:"measured"`
	Required  string `json:"required"`
	Message   string `json:"message"`
	Hint      string `json:"hint"`
	Field     string `json:"-"`
	Fixed     bool   `json:"-"`
	CoveredBy string `json:"-"`
}

// Failed reports whether any result failed.
func Failed(results []Result) bool {
	for _, r := range results {
		if r.Status == Fail {
			return true
		}
	}
	return false
}

// Worst returns the most severe status among results: fail, then error,
// then warn, then pass. An empty list is a pass.
func Worst(results []Result) Status {
	rank := map[Status]int{Pass: 0, Warn: 1, Error: 2, Fail: 3}
	worst := Pass
	for _, r := range results {
		if rank[r.Status] > rank[worst] {
			worst = r.Status
		}
	}
	return worst
}
