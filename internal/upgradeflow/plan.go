package upgradeflow

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/upgrade"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// PlanOutcome is the first step of an upgrade, computed without writing
// anything: what changes between the installed and the checked-out
// release, and whether anything stops the upgrade.
type PlanOutcome struct {
	Releases Releases
	// Nothing says why there is nothing to upgrade (nothing installed, or
	// the installed release is checked out); the plan is empty then.
	Nothing string
	Plan    upgrade.Plan
	// Install is what the apply step will write, as the Review page shows
	// it; empty when the install cannot be planned (see Plan.Blocking).
	Install *deploy.Report
	install deploy.Plan
}

// Blocked reports whether the plan stops the upgrade.
func (o PlanOutcome) Blocked() bool { return o.Nothing == "" && o.Plan.Blocked() }

// Plan compares the installed release with the checked-out one for the
// wizard state st (its customer package and answers). Every reason to stop
// is a blocking result of the plan: a package older than the new
// MIN_VERSION (upload the newer package, which is merged keeping hand
// edits, then plan again), a downgrade, an install the new release refuses
// or whose hand edits conflict. It writes nothing.
func (f *Flow) Plan(ctx context.Context, st wizard.State) (PlanOutcome, error) {
	var o PlanOutcome
	var err error
	if o.Releases, err = DetectReleases(ctx, f.c.ReleaseDir, f.c.History); err != nil {
		return o, err
	}
	switch r := o.Releases; {
	case r.CheckedOut == "":
		return o, fmt.Errorf("upgrade: %s has no VERSION file: is it a carto-selfhosted checkout?", f.c.ReleaseDir)
	case r.Installed == "":
		o.Nothing = "Nothing is installed yet: the wizard (or carto-setup apply) installs " + r.CheckedOut + "."
		return o, nil
	case !r.Differs():
		o.Nothing = r.Installed + " is installed and checked out: there is nothing to upgrade."
		if len(r.Newer) > 0 {
			o.Nothing += " Check out a newer release tag first (" + r.Newer[len(r.Newer)-1].Name + " is the newest git has)."
		}
		return o, nil
	}
	installed, err := installedRelease(ctx, f.c.ReleaseDir, f.c.History, o.Releases)
	if err != nil {
		return o, fmt.Errorf("upgrade: plan: %w", err)
	}
	target, err := upgrade.ReadRelease(f.c.ReleaseDir)
	if err != nil {
		return o, err
	}

	// The customer.env the upgrade would write: the package merged with
	// the hand edits on disk. When the new release refuses the install,
	// the package itself stands in, so that the plan can still say why.
	var refused []check.Result
	customerEnv := []byte(st.Package.CustomerEnv)
	dp, err := deploy.NewPlanWith(st, f.c.ReleaseDir, deploy.PlanOptions{StateDir: f.c.StateDir})
	var re *deploy.RefusedError
	switch {
	case errors.As(err, &re):
		refused = re.Results
	case err != nil:
		return o, err
	default:
		customerEnv = dp.CustomerEnv()
		o.install = dp
		rep := dp.Report()
		o.Install = &rep
	}
	if len(customerEnv) == 0 {
		customerEnv, _ = os.ReadFile(filepath.Join(f.c.ReleaseDir, deploy.CustomerEnvFile))
	}
	if o.Plan, err = upgrade.NewPlan(upgrade.Input{Installed: installed, Target: target, CustomerEnv: customerEnv}); err != nil {
		return o, err
	}
	minBlocked := slices.ContainsFunc(o.Plan.Blocking, func(r check.Result) bool { return r.ID == "upgrade.min_version" })
	for _, r := range refused {
		if r.Status != check.Fail && r.Status != check.Error {
			continue
		}
		if minBlocked && (r.ID == "install.min_version" || r.ID == "install.package_version") {
			continue // the plan says it with the upgrade's words
		}
		o.Plan.Blocking = append(o.Plan.Blocking, r)
	}
	if o.Install != nil {
		for _, c := range o.Install.Open() {
			o.Plan.Blocking = append(o.Plan.Blocking, check.Result{Step: "upgrade", ID: "upgrade.conflict", Status: check.Fail,
				Measured: c.String(), Required: "resolved",
				Message: "A hand edit conflicts with what the upgrade would write: " + c.String() + ".",
				Hint:    "Resolve it on the Review page (keep yours or take the wizard's), then plan the upgrade again."})
		}
	}
	return o, nil
}
