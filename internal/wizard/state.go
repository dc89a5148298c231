package wizard

import "time"

// SchemaVersion is the version of the state file's layout. A file with a
// newer version is refused rather than misread.
const SchemaVersion = 1

// State is everything the wizard remembers between requests and restarts.
// Secrets entered by the admin live here too; the file is 0600 in a 0700
// directory and never rendered back into a page.
type State struct {
	Schema    int           `json:"schema"`
	Revision  int64         `json:"revision"` // bumped by every save
	UpdatedAt time.Time     `json:"updated_at"`
	Done      map[Step]bool `json:"done"`
	Overrides []Override    `json:"overrides,omitempty"`
	// Checks holds the last check run of each step, shown again on GET.
	Checks map[Step]CheckRun `json:"checks,omitempty"`

	Package  PackageInput  `json:"package"`
	Domain   DomainInput   `json:"domain"`
	Database DatabaseInput `json:"database"`
	Cache    CacheInput    `json:"cache"`
	TLS      TLSInput      `json:"tls"`
	Buckets  BucketsInput  `json:"buckets"`
	Advanced AdvancedInput `json:"advanced,omitzero"` // GoogleMapsAPIKey, BigQueryOAuthClientSecret, Extra[].Value when Secret: secret

	// Resolutions are the admin's choices on the review page for hand
	// edits that conflict with the install, by customer.env key or file
	// path: "mine" keeps the hand edit, "wizard" takes the wizard's value
	// (deploy.Resolution). They are cleared once an install has used them.
	Resolutions map[string]string `json:"resolutions,omitempty"`
	// LastInstall is what the last successful install applied (changes.go).
	LastInstall InstallRecord `json:"last_install,omitzero"`
}

// Override records that the admin continued past a warning or an
// overridable failure, with the reason they typed.
type Override struct {
	Check  string    `json:"check"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// DomainInput is what the domain step collects.
type DomainInput struct {
	Domain string `json:"domain"`
	// BrowserNonce is the nonce the admin's browser is asked to fetch
	// from http://<domain>/ to prove the domain reaches this VM from
	// outside.
	BrowserNonce string `json:"browser_nonce,omitempty"`
}

// MarkDone marks s done. A step that changes may invalidate later ones;
// callers decide that, this only records the fact.
func (st *State) MarkDone(s Step) {
	if st.Done == nil {
		st.Done = map[Step]bool{}
	}
	st.Done[s] = true
}

// SetChecks stores the last check run of a step.
func (st *State) SetChecks(s Step, run CheckRun) {
	if st.Checks == nil {
		st.Checks = map[Step]CheckRun{}
	}
	st.Checks[s] = run
}

// AddOverride records an override, replacing an earlier one for the same
// check.
func (st *State) AddOverride(o Override) {
	for i, x := range st.Overrides {
		if x.Check == o.Check {
			st.Overrides[i] = o
			return
		}
	}
	st.Overrides = append(st.Overrides, o)
}

// Overridden returns the override recorded for a check, if any.
func (st State) Overridden(check string) (Override, bool) {
	for _, o := range st.Overrides {
		if o.Check == check {
			return o, true
		}
	}
	return Override{}, false
}

// FieldErrors maps a form field's name to a message that tells the admin
// what is wrong with it. Rendered next to the field; an empty map is valid.
type FieldErrors map[string]string

// Add records a message for a field, keeping the first one.
func (fe FieldErrors) Add(field, msg string) {
	if _, ok := fe[field]; !ok {
		fe[field] = msg
	}
}
