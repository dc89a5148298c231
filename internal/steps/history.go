package steps

import (
	"context"
	"errors"

	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/history"
	"github.com/carto-setup/carto-setup/internal/upgrade/gitrepo"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// BeginInstall records the start of an install of plan in the history,
// before anything is written: the release, the checkout's git commit when
// it is a git repository, and the package version. The caller finishes
// the recording with FinishInstall once the install (and, on the command
// line, the smoke test) has ended.
func BeginInstall(ctx context.Context, h *history.Store, origin history.Origin, plan deploy.Plan, st wizard.State) (*history.Recording, error) {
	start := history.Start{Action: history.Install, Origin: origin, ReleaseDir: plan.ReleaseDir(), Release: plan.Version(),
		PackageVersion: st.Package.Summary.PackageVersion}
	if start.PackageVersion == "" {
		if f, err := envfile.Parse(plan.CustomerEnv()); err == nil {
			start.PackageVersion, _ = f.Get("CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION")
		}
	}
	if repo, err := gitrepo.Open(ctx, plan.ReleaseDir()); err == nil {
		start.Commit, _ = repo.Head(ctx)
	}
	return h.Begin(start)
}

// FinishInstall ends an install's recording: succeeded when err is nil,
// failed with the install's message otherwise. A nil recording is a no-op.
func FinishInstall(rec *history.Recording, err error, success string) error {
	if rec == nil {
		return nil
	}
	if err == nil {
		_, ferr := rec.Finish(history.Succeeded, success)
		return ferr
	}
	msg := err.Error()
	var de *deploy.Error
	if errors.As(err, &de) {
		msg = de.Error() // message and hint, never raw tool output
	}
	_, ferr := rec.Finish(history.Failed, msg)
	return ferr
}
