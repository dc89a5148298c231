package upgrade

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/installsh"
)

// Direction says which way a plan moves between releases.
type Direction string

// The directions. A downgrade blocks: CARTO's migrations are forward-only,
// and the way back is a restore of the files and of the database backup.
const (
	Forward  Direction = "upgrade"
	Backward Direction = "downgrade"
	Same     Direction = "same"
)

// Change is what happens to one service.
type Change string

// The service changes.
const (
	Added     Change = "added"
	Removed   Change = "removed"
	Renamed   Change = "renamed"
	Unchanged Change = "unchanged" // the service is in both; its image may change
)

// Input is what a plan compares: the installed release, the target
// release, and the customer.env the upgrade will use (the installed one, or
// a newer package already merged), whose package version the target's
// MIN_VERSION must accept and which resolves the image names.
type Input struct {
	Installed   Release
	Target      Release
	CustomerEnv []byte
}

// Plan is what changes between two releases, for the Upgrade page and
// `upgrade --json`. Nothing in it is secret: it names keys, never values.
type Plan struct {
	From           string    `json:"from"`
	To             string    `json:"to"`
	Direction      Direction `json:"direction"`
	PackageVersion string    `json:"package_version"`
	MinVersion     string    `json:"min_version"`
	// VariablesAdded and VariablesRemoved are the keys env.tpl gains and
	// loses.
	VariablesAdded   []string `json:"variables_added"`
	VariablesRemoved []string `json:"variables_removed"`
	// Overrides are the keys set in customer.env that the target env.tpl
	// also sets: env.tpl comes last in .env, so its value wins.
	Overrides []Override        `json:"overrides"`
	Services  []ServiceChange   `json:"services"`
	Blocking  []check.Result    `json:"blocking"`
	Checks    []check.Result    `json:"checks"`
	images    map[string]string // target service -> resolved image
}

// Override is a customer.env key the target's env.tpl overrides; New when
// the installed env.tpl did not, so the admin's value stops taking effect
// with this upgrade.
type Override struct {
	Key string `json:"key"`
	New bool   `json:"new"`
}

// ServiceChange is one service: its name in the target (Service) and in
// the installed release (Previous), what happens to it, why a rename was
// inferred, and its image before and after, as Compose resolves them.
type ServiceChange struct {
	Service  string `json:"service,omitempty"`
	Previous string `json:"previous,omitempty"`
	Change   Change `json:"change"`
	Reason   string `json:"reason,omitempty"`
	OldImage string `json:"old_image,omitempty"`
	NewImage string `json:"new_image,omitempty"`
}

// ImageChanged reports whether the service runs another image after the
// upgrade (an added or removed service always does).
func (s ServiceChange) ImageChanged() bool { return s.OldImage != s.NewImage }

// Blocked reports whether something stops the upgrade before any file or
// the database is touched.
func (p Plan) Blocked() bool { return len(p.Blocking) > 0 }

// Image returns the image the target release runs for service.
func (p Plan) Image(service string) string { return p.images[service] }

// NewPlan compares the installed and the target release. It returns an
// error only when a file cannot be read (an env.tpl or docker-compose.yml
// that does not parse); every reason to stop is a blocking result in the
// plan:
//   - upgrade.min_version: the package is older than the target's
//     MIN_VERSION (install.sh's `sort -V` rule); the admin must upload the
//     newer package CARTO sends, which is merged before planning again;
//   - upgrade.package_version: customer.env names no package version;
//   - upgrade.downgrade: the target is older than the installed release.
func NewPlan(in Input) (Plan, error) {
	p := Plan{
		From:       in.Installed.Version,
		To:         in.Target.Version,
		MinVersion: in.Target.MinVersion(),
		Direction:  Same,
	}
	switch c := CompareReleases(in.Target.Version, in.Installed.Version); {
	case c > 0:
		p.Direction = Forward
	case c < 0:
		p.Direction = Backward
	}

	oldTpl, err := envfile.Parse(in.Installed.EnvTpl)
	if err != nil {
		return Plan{}, fmt.Errorf("upgrade: plan: installed env.tpl: %w", err)
	}
	newTpl, err := envfile.Parse(in.Target.EnvTpl)
	if err != nil {
		return Plan{}, fmt.Errorf("upgrade: plan: target env.tpl: %w", err)
	}
	customer, err := envfile.Parse(installsh.RenamePostgresPassword(in.CustomerEnv))
	if err != nil {
		return Plan{}, fmt.Errorf("upgrade: plan: customer.env: %w", err)
	}
	p.VariablesAdded, p.VariablesRemoved = diffKeys(oldTpl.Keys(), newTpl.Keys())
	oldKeys := oldTpl.Keys()
	for _, k := range newTpl.Keys() {
		if _, set := customer.Get(k); set {
			p.Overrides = append(p.Overrides, Override{Key: k, New: !slices.Contains(oldKeys, k)})
		}
	}

	p.checkPackage(customer, in.Target.MinVersionFile)
	if p.Direction == Backward {
		p.Blocking = append(p.Blocking, check.Result{Step: "upgrade", ID: "upgrade.downgrade", Status: check.Fail,
			Measured: in.Target.Version, Required: "newer than " + in.Installed.Version,
			Message: fmt.Sprintf("%s is older than the installed %s: CARTO's database migrations are forward-only, so a release cannot be installed over a newer one.", in.Target.Version, in.Installed.Version),
			Hint:    "Check out " + in.Installed.Version + " or a newer tag again; to go back, restore the history entry from before the upgrade and its database backup."})
	}

	oldImages, err := resolveImages(in.Installed, in.CustomerEnv)
	if err != nil {
		return Plan{}, fmt.Errorf("upgrade: plan: installed release: %w", err)
	}
	newImages, err := resolveImages(in.Target, in.CustomerEnv)
	if err != nil {
		return Plan{}, fmt.Errorf("upgrade: plan: target release: %w", err)
	}
	oldServices, err := parseCompose(in.Installed.Compose)
	if err != nil {
		return Plan{}, fmt.Errorf("upgrade: plan: installed release: %w", err)
	}
	newServices, err := parseCompose(in.Target.Compose)
	if err != nil {
		return Plan{}, fmt.Errorf("upgrade: plan: target release: %w", err)
	}
	p.images = newImages
	p.Services = serviceChanges(oldServices, newServices, oldImages, newImages)
	return p, nil
}

// checkPackage applies install.sh's MIN_VERSION rule to the package version
// in customer.env.
func (p *Plan) checkPackage(customer *envfile.File, minVersionFile []byte) {
	pkg, _ := customer.Get("CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION")
	p.PackageVersion = pkg
	if pkg == "" {
		p.Blocking = append(p.Blocking, check.Result{Step: "upgrade", ID: "upgrade.package_version", Status: check.Fail,
			Measured: "missing", Required: "present", Field: "customer_env",
			Message: "customer.env names no CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION, so the package cannot be checked against the new release.",
			Hint:    "Upload the customer package CARTO sent for this release."})
		return
	}
	r := installsh.MinVersionCheck(pkg, minVersionFile)
	r.Step, r.ID = "upgrade", "upgrade.min_version"
	if r.Status == check.Fail {
		r.Message = fmt.Sprintf("The customer package %s is older than %s, the oldest package %s accepts (MIN_VERSION).", pkg, p.MinVersion, p.To)
		r.Hint = "Ask CARTO support for the customer package of " + p.To + " (or download it with tools/carto-download-customer-package.sh) and upload it: your settings and hand edits are merged into it."
		p.Blocking = append(p.Blocking, r)
		return
	}
	p.Checks = append(p.Checks, r)
}

// diffKeys returns the keys of b not in a, and of a not in b, each in file
// order.
func diffKeys(a, b []string) (added, removed []string) {
	for _, k := range b {
		if !slices.Contains(a, k) {
			added = append(added, k)
		}
	}
	for _, k := range a {
		if !slices.Contains(b, k) {
			removed = append(removed, k)
		}
	}
	return added, removed
}

// resolveImages returns each service's image as Compose resolves it: the
// image: expression interpolated with the values of the .env that
// install.sh's step B makes from customer.env, VERSION and env.tpl.
func resolveImages(r Release, customerEnv []byte) (map[string]string, error) {
	services, err := parseCompose(r.Compose)
	if err != nil {
		return nil, err
	}
	dotEnv := installsh.DotEnv(customerEnv, []byte(r.Version), r.EnvTpl)
	images := map[string]string{}
	for _, s := range services {
		img, err := interpolate(dotEnv, s.image)
		if err != nil {
			return nil, fmt.Errorf("service %s: image %q: %w", s.name, s.image, err)
		}
		images[s.name] = img
	}
	return images, nil
}

// exprKey is the key interpolate appends to .env; no CARTO variable has
// this name.
const exprKey = "CARTO_SETUP_UPGRADE_PLAN_EXPRESSION"

var lineRE = regexp.MustCompile(`^envfile: parse: line [0-9]+: `)

// interpolate expands a Compose ${...} expression against a .env with the
// rules of the envfile package, which are compose-go's: the expression is
// appended to .env as a double-quoted value, which compose-go interpolates
// with every key defined before it. The process environment, which Compose
// would also consult, is left out on purpose: a plan describes the files.
func interpolate(dotEnv []byte, expr string) (string, error) {
	if !strings.Contains(expr, "$") {
		return expr, nil
	}
	if strings.ContainsAny(expr, "\r\n") {
		return "", fmt.Errorf("an expression over several lines")
	}
	quoted := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(expr)
	src := append(append([]byte{}, dotEnv...), []byte("\n"+exprKey+"=\""+quoted+"\"\n")...)
	f, err := envfile.Parse(src)
	if err != nil {
		// The line number would point into the helper text, not a file.
		return "", errors.New(lineRE.ReplaceAllString(err.Error(), ""))
	}
	v, _ := f.Get(exprKey)
	return v, nil
}
