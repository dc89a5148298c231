package upgradeflow

import (
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/upgrade"
)

// StepName names one step of the upgrade; they run in the order of
// StepNames.
type StepName string

// The steps.
const (
	StepPlan      StepName = "plan"
	StepPreflight StepName = "preflight"
	StepBackup    StepName = "backup"
	StepApply     StepName = "apply"
	StepSmoke     StepName = "smoke"
)

// StepNames are the steps in the order they run.
var StepNames = []StepName{StepPlan, StepPreflight, StepBackup, StepApply, StepSmoke}

// Title is a step's name for people.
func (s StepName) Title() string {
	switch s {
	case StepPlan:
		return "Plan"
	case StepPreflight:
		return "Preflight again"
	case StepBackup:
		return "Database backup"
	case StepApply:
		return "Apply"
	case StepSmoke:
		return "Smoke test"
	}
	return string(s)
}

// StepStatus is where a step is.
type StepStatus string

// The step states. Blocked is a plan that stops the upgrade before
// anything is touched; Skipped a step that did not run because an earlier
// one stopped.
const (
	Pending StepStatus = "pending"
	Running StepStatus = "running"
	Passed  StepStatus = "passed"
	Failed  StepStatus = "failed"
	Blocked StepStatus = "blocked"
	Skipped StepStatus = "skipped"
)

// Step is one step of the report.
type Step struct {
	Name    StepName   `json:"name"`
	Status  StepStatus `json:"status"`
	Message string     `json:"message,omitempty"`
}

// Result is how the upgrade ended.
type Result string

// The results. Nothing means there was nothing to upgrade.
const (
	ResultRunning   Result = "running"
	ResultSucceeded Result = "succeeded"
	ResultFailed    Result = "failed"
	ResultBlocked   Result = "blocked"
	ResultNothing   Result = "nothing to upgrade"
)

// BackupReport is the backup the upgrade took, or the snapshot the admin
// relies on instead.
type BackupReport struct {
	Path           string `json:"path,omitempty"`
	Size           int64  `json:"size,omitempty"`
	SHA256         string `json:"sha256,omitempty"`
	Method         string `json:"method,omitempty"`
	Verified       string `json:"verified,omitempty"`
	SnapshotReason string `json:"snapshot_reason,omitempty"`
	// Unavailable lists why no dump was possible, when it was not.
	Unavailable []string `json:"unavailable,omitempty"`
	// RestoreCommand puts the database back as the dump has it.
	RestoreCommand string `json:"restore_command,omitempty"`
}

// ServiceRow is one service on the upgrade's board: its image before and
// after, and whether the upgrade recreated its container.
type ServiceRow struct {
	Service   string `json:"service"`
	Previous  string `json:"previous,omitempty"` // its name before a rename
	Change    string `json:"change"`             // added, removed, renamed, unchanged
	OldImage  string `json:"old_image,omitempty"`
	NewImage  string `json:"new_image,omitempty"`
	Recreated bool   `json:"recreated"`
	State     string `json:"state,omitempty"`
	ExitCode  *int   `json:"exit_code,omitempty"`
	Status    string `json:"status,omitempty"` // ok, pending, failed (from the install board)
	Reason    string `json:"reason,omitempty"`
}

// Report is what an upgrade did, step by step: the Upgrade page shows it
// and `upgrade --json` prints it. It holds no secret.
type Report struct {
	From      string `json:"from"`
	To        string `json:"to"`
	Result    Result `json:"result"`
	Message   string `json:"message,omitempty"`
	HistoryID int    `json:"history_id,omitempty"`
	Steps     []Step `json:"steps"`
	// Checks are the answers file's step checks, on the command line.
	Checks    []check.Result `json:"checks,omitempty"`
	Plan      *upgrade.Plan  `json:"plan,omitempty"`
	Preflight []check.Result `json:"preflight,omitempty"`
	Backup    *BackupReport  `json:"backup,omitempty"`
	Services  []ServiceRow   `json:"services,omitempty"`
	// MigrationsExitCode is workspace-migrations' exit code after the
	// apply; the upgrade needs 0.
	MigrationsExitCode *int           `json:"migrations_exit_code,omitempty"`
	Smoke              []check.Result `json:"smoke,omitempty"`
	Started            time.Time      `json:"started"`
	Ended              *time.Time     `json:"ended,omitempty"`
}

// Step returns the step named n.
func (r Report) Step(n StepName) Step {
	for _, s := range r.Steps {
		if s.Name == n {
			return s
		}
	}
	return Step{Name: n, Status: Pending}
}

// JSON returns the report as `upgrade --json` prints it.
func (r Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Progress is a report being written by a running upgrade and read by the
// page that shows it.
type Progress struct {
	mu    sync.Mutex
	r     Report
	live  func() ([]ServiceRow, *int) // the board while the apply runs
	lines []string
}

// maxLines bounds the progress lines kept for the page.
const maxLines = 400

func newProgress(now time.Time) *Progress {
	p := &Progress{r: Report{Result: ResultRunning, Started: now.UTC()}}
	for _, n := range StepNames {
		p.r.Steps = append(p.r.Steps, Step{Name: n, Status: Pending})
	}
	return p
}

// Report returns a copy of the report as it is now.
func (p *Progress) Report() Report {
	p.mu.Lock()
	r := p.r
	live := p.live
	p.mu.Unlock()
	r.Steps = slices.Clone(r.Steps)
	r.Services = slices.Clone(r.Services)
	if live != nil {
		r.Services, r.MigrationsExitCode = live()
	}
	return r
}

// Lines returns the last progress lines, masked.
func (p *Progress) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.lines)
}

func (p *Progress) update(fn func(r *Report)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fn(&p.r)
}

func (p *Progress) setStep(n StepName, st StepStatus, msg string) {
	p.update(func(r *Report) {
		for i := range r.Steps {
			if r.Steps[i].Name == n {
				r.Steps[i].Status, r.Steps[i].Message = st, msg
			}
		}
	})
}

// finish ends the report: the steps that did not run are skipped.
func (p *Progress) finish(res Result, msg string, now time.Time) Report {
	p.update(func(r *Report) {
		r.Result, r.Message = res, msg
		end := now.UTC()
		r.Ended = &end
		for i := range r.Steps {
			if r.Steps[i].Status == Pending || r.Steps[i].Status == Running {
				r.Steps[i].Status = Skipped
			}
		}
	})
	return p.Report()
}

func (p *Progress) setLive(fn func() ([]ServiceRow, *int)) {
	p.mu.Lock()
	p.live = fn
	p.mu.Unlock()
}

func (p *Progress) addLine(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, s)
	if len(p.lines) > maxLines {
		p.lines = slices.Delete(p.lines, 0, len(p.lines)-maxLines)
	}
}
