package web

import (
	"strconv"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"

	"github.com/carto-setup/carto-setup/internal/wizard"
)

// StepLink is one entry of the step indicator.
type StepLink struct {
	Step      wizard.Step
	Done      bool
	Reachable bool
	Current   bool
	// Changed marks a step that is out of date with the running install
	// (wizard.State.ChangedSinceInstall).
	Changed bool
}

// Progress is the step indicator's model.
type Progress struct {
	Links []StepLink
	// Installed adds the Status page, the home page once installed;
	// StatusCurrent marks it as the page shown.
	Installed     bool
	StatusCurrent bool
}

// NewProgress builds the indicator for the current step.
func NewProgress(st wizard.State, current wizard.Step) Progress {
	p := Progress{Installed: st.Installed()}
	for _, s := range wizard.Steps {
		p.Links = append(p.Links, StepLink{Step: s, Done: st.Done[s], Reachable: wizard.Reachable(st, s), Current: s == current,
			Changed: st.ChangedSinceInstall(s)})
	}
	return p
}

// PageMeta is what the layout needs from every page.
type PageMeta struct {
	Title    string
	Progress *Progress // nil on pages outside the wizard (sign-in, errors)
	// Tools shows the day-2 tool links (Upgrade, History, Logs) on a
	// signed-in page that has no step progress (Logs, Images).
	Tools   bool
	Scripts []string // static asset names of scripts this page loads
}

// SignInView is the sign-in page.
type SignInView struct {
	Error string
}

// ErrorView is a page for an error the admin cannot fix by editing a form.
type ErrorView struct {
	Status    int
	Title     string
	Message   string
	RequestID string
}

// ChecksView is a step's last check run with the override reasons the admin
// typed and the problems with them.
type ChecksView struct {
	Run     wizard.CheckRun
	Reasons map[string]string
	Errors  wizard.FieldErrors
	// Continue says the page offers Continue: only then does a failure
	// that may be overridden get a reason field.
	Continue bool
}

// Named returns the problems with the reasons as the error summary lists
// them: each names its check and says what failed.
func (v ChecksView) Named() wizard.FieldErrors {
	out := wizard.FieldErrors{}
	for _, r := range v.Run.Results {
		field := wizard.OverrideField(r.ID)
		if msg, ok := v.Errors[field]; ok {
			out[field] = r.ID + ": " + r.Message + " " + msg
		}
	}
	return out
}

// problems are the results that did not pass, failures first; passed are
// the rest, which the table collapses.
func (v ChecksView) problems() []wizard.StoredResult {
	var fails, warns []wizard.StoredResult
	for _, r := range v.Run.Results {
		switch r.Status {
		case check.Fail, check.Error:
			fails = append(fails, r)
		case check.Warn:
			warns = append(warns, r)
		}
	}
	return append(fails, warns...)
}

func (v ChecksView) passed() []wizard.StoredResult {
	var out []wizard.StoredResult
	for _, r := range v.Run.Results {
		if r.Status == check.Pass {
			out = append(out, r)
		}
	}
	return out
}

// cause is the failing check whose reason covers r, if any.
func (v ChecksView) cause(r wizard.StoredResult) string {
	if c, ok := wizard.Cause(v.Run.Results, r); ok {
		return c.ID
	}
	return ""
}

// PreflightStepView is the preflight page.
type PreflightStepView struct {
	Progress Progress
	Checks   ChecksView
}

func itoa(n int) string { return strconv.Itoa(n) }

// DomainStepView is the domain step's page.
type DomainStepView struct {
	Progress Progress
	Input    wizard.DomainInput
	Errors   wizard.FieldErrors
	Checks   ChecksView
	// BrowserURL is the link the admin opens to prove the domain reaches
	// this VM from their side; empty until the checks have run.
	BrowserURL string
}

// mergeErrors joins field errors for the error summary.
func mergeErrors(a, b wizard.FieldErrors) wizard.FieldErrors {
	out := wizard.FieldErrors{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// PackageStepView is the installation package page.
type PackageStepView struct {
	Progress Progress
	Errors   wizard.FieldErrors // by field: zip, customer_env, key_json
	Checks   ChecksView
	Summary  wizard.PackageSummary
	Uploaded bool
	Release  string // the release's VERSION
	Min      string // the release's MIN_VERSION
}

// DatabaseStepView is the database and cache page. Input carries no
// password: passwords are never rendered back.
type DatabaseStepView struct {
	Progress Progress
	Input    wizard.DatabaseInput
	Cache    wizard.CacheInput
	// The secrets and files say whether a value is saved or held for
	// the form, so the page can say "leave blank to keep".
	AdminPassword, WorkspacePassword, CachePassword Secret
	CA, CacheCA                                     Secret
	Errors                                          wizard.FieldErrors
	Checks                                          ChecksView
	Notice                                          string
}

// TLSStepView is the router certificate page. It never carries the key.
type TLSStepView struct {
	Progress    Progress
	Domain      string
	Mode        string
	ACMEEmail   string
	ACMEDir     string
	Errors      wizard.FieldErrors
	Checks      ChecksView
	HasCert     bool
	Fingerprint string
	Notice      string
	AcceptTOS   bool
	// NextURL offers the way on after a certificate with warnings was
	// saved.
	NextURL string
}

// The Let's Encrypt directories offered; a custom directory set from the
// answers file is offered too.
const (
	LetsEncryptProduction = "https://acme-v02.api.letsencrypt.org/directory"
	LetsEncryptStaging    = "https://acme-staging-v02.api.letsencrypt.org/directory"
)

func acmeOptions(current string) []option {
	opts := []option{{Value: LetsEncryptProduction, Label: "Production"}, {Value: LetsEncryptStaging, Label: "Staging (test certificates, not trusted)"}}
	if current != "" && current != LetsEncryptProduction && current != LetsEncryptStaging {
		opts = append(opts, option{Value: current, Label: current})
	}
	return opts
}

// DiffLine is one line of the customer.env change, secrets masked.
type DiffLine struct {
	Op   string // "+", "-" or " "
	Text string
}

// ReviewData is what the install will do.
type ReviewData struct {
	Diff     []DiffLine
	Report   ReviewReport
	Command  string
	Problems []check.Result // conditions that stop the install
	// Images are the release's images and which are present; the
	// install pulls the others first.
	Images      []ImageStateView
	ImagesError string
}

// ReviewStepView is the review page.
type ReviewStepView struct {
	Progress Progress
	Review   ReviewData
	Error    string
	// Release says the checkout holds another release than the one
	// installed: the install is refused, as apply refuses, and the
	// Upgrade page is the way.
	Release ReleaseNotice
}

// FailingView names a service that failed, with its last log lines.
type FailingView struct {
	Service   string
	Reason    string
	Hint      string
	LastLines []string
}

// InstallData is the state of one install job.
type InstallData struct {
	ID       string
	Status   string // running, succeeded, failed, interrupted
	Error    string
	Started  time.Time
	Ended    time.Time
	Services []ChipView
	Failing  []FailingView
	Lines    []string // the latest log lines, for the page without JS
	// Now is when the page was rendered, for the elapsed time.
	Now time.Time
	// Images is the pull phase (ImagesBoard); empty before it.
	Images ImagesBoardView
}

// Running reports whether the job is still going.
func (d InstallData) Running() bool { return d.Status == "running" }

// Ready counts the services in their expected state.
func (d InstallData) Ready() int {
	n := 0
	for _, s := range d.Services {
		if s.Verdict == "ok" {
			n++
		}
	}
	return n
}

// Elapsed is how long the install ran, or has run so far.
func (d InstallData) Elapsed() string {
	end := d.Ended
	if end.IsZero() {
		end = d.Now
	}
	if d.Started.IsZero() || end.Before(d.Started) {
		return ""
	}
	return Duration(end.Sub(d.Started))
}

// JobPageView is the install page.
type JobPageView struct {
	Progress Progress
	Job      InstallData
	// CanRemove offers to remove what this failed first install created;
	// Cleanup is what that removal did.
	CanRemove bool
	Cleanup   *CleanupView
}

// BucketsStepView is the buckets page; it never carries a key or secret.
type BucketsStepView struct {
	Progress                   Progress
	Input                      wizard.BucketsInput
	GCSKey, S3Secret, AzureKey Secret
	Errors                     wizard.FieldErrors
	Checks                     ChecksView
	// Fixes are the CORS rules to apply, per bucket, with the command.
	Fixes []CORSFix
}

// CORSFix is the command and configuration that gives a bucket the CORS
// rules CARTO needs.
type CORSFix struct {
	Bucket string
	Text   string
}

// SmokeJob is the state of the latest smoke-test job.
type SmokeJob struct {
	ID      string
	Status  string // running, succeeded, failed, interrupted
	Error   string
	Started time.Time
	Ended   time.Time
}

// Running reports whether the smoke test is still going.
func (j SmokeJob) Running() bool { return j.Status == "running" }

// ChecklistItem is one manual check with its saved tick.
type ChecklistItem struct {
	ID     string
	Title  string
	Detail string
	Done   bool
}

// SmokeStepView is the smoke-test page: the latest automated run and the
// manual checklist.
type SmokeStepView struct {
	Progress  Progress
	Job       SmokeJob
	HasJob    bool
	Checks    ChecksView
	Checklist []ChecklistItem
	Error     string
}

// BundleFileView is one file of the support bundle's preview.
type BundleFileView struct {
	Name       string
	Size       int
	Redactions int
}

// BundleRedactionView says how many occurrences of a secret were masked in
// a file; never the value.
type BundleRedactionView struct {
	File  string
	What  string
	Count int
}

// BundlePreviewView lists what the support bundle will contain.
type BundlePreviewView struct {
	Progress   Progress
	Files      []BundleFileView
	Redactions []BundleRedactionView
}

// FinishView is the summary page at the end of the wizard.
type FinishView struct {
	Progress    Progress
	Domain      string
	Smoke       wizard.CheckRun
	Checklist   []ChecklistItem
	Overrides   []wizard.Override
	Error       string
	ConfirmText string
	Release     ReleaseNotice // the checkout moved since the install
}
