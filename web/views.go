package web

import (
	"strconv"

	"github.com/carto-setup/carto-setup/internal/wizard"
)

// StepLink is one entry of the step indicator.
type StepLink struct {
	Step      wizard.Step
	Done      bool
	Reachable bool
	Current   bool
}

// Progress is the step indicator's model.
type Progress struct {
	Links []StepLink
}

// NewProgress builds the indicator for the current step.
func NewProgress(st wizard.State, current wizard.Step) Progress {
	var p Progress
	for _, s := range wizard.Steps {
		p.Links = append(p.Links, StepLink{Step: s, Done: st.Done[s], Reachable: wizard.Reachable(st, s), Current: s == current})
	}
	return p
}

// PageMeta is what the layout needs from every page.
type PageMeta struct {
	Title    string
	Progress *Progress // nil on pages outside the wizard (sign-in, errors)
	Scripts  []string  // static asset names of scripts this page loads
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

// NotBuiltView is the page of a step this version does not implement yet.
type NotBuiltView struct {
	Step     wizard.Step
	Progress Progress
}

// ChecksView is a step's last check run with the override reasons the admin
// typed and the problems with them.
type ChecksView struct {
	Run     wizard.CheckRun
	Reasons map[string]string
	Errors  wizard.FieldErrors
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
	// Saved says which secrets already have a saved value, so the page
	// can say "leave blank to keep".
	SavedAdminPassword, SavedWorkspacePassword, SavedCachePassword bool
	HasCA, HasCacheCA                                              bool
	Errors                                                         wizard.FieldErrors
	Checks                                                         ChecksView
	Notice                                                         string
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
