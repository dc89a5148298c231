package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/history"
	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/upgrade"
	"github.com/carto-setup/carto-setup/internal/upgrade/gitrepo"
	"github.com/carto-setup/carto-setup/internal/upgradeflow"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/web"
)

// Upgrader plans and runs upgrades and restores for the Upgrade and
// History pages; *upgradeflow.Jobs is the real one.
type Upgrader interface {
	Releases(ctx context.Context) (upgradeflow.Releases, error)
	Plan(ctx context.Context, st wizard.State) (upgradeflow.PlanOutcome, error)
	Checkout(ctx context.Context, tag string) error
	StartUpgrade(opts upgradeflow.Options) (string, error)
	Upgrade(id string) (upgradeflow.UpgradeJob, bool)
	LatestUpgrade() (string, bool)
	BackupDir() string
	Entries() ([]history.Entry, error)
	PreviewRestore(ctx context.Context, id int) (upgradeflow.RestorePreview, error)
	StartRestore(id int, opts upgradeflow.RestoreOptions) (string, error)
	Restore(id string) (upgradeflow.RestoreJob, bool)
}

// upgradeRoutes adds the Upgrade and History pages; they need a session.
func (d *Deps) upgradeRoutes(r chi.Router) {
	r.Method(http.MethodGet, "/upgrade", d.handle(d.handleUpgrade))
	r.Method(http.MethodPost, "/upgrade", d.handle(d.handleUpgradeStart))
	r.Method(http.MethodPost, "/upgrade/checkout", d.handle(d.handleUpgradeCheckout))
	r.Method(http.MethodPost, "/upgrade/package", d.handle(d.handleUpgradePackage))
	r.Method(http.MethodGet, "/upgrade/jobs/{id}", d.handle(d.handleUpgradeJob))
	r.Method(http.MethodGet, "/history", d.handle(d.handleHistory))
	r.Method(http.MethodGet, "/history/{id}/restore", d.handle(d.handleRestorePreview))
	r.Method(http.MethodPost, "/history/{id}/restore", d.handle(d.handleRestoreStart))
	r.Method(http.MethodGet, "/restore/jobs/{id}", d.handle(d.handleRestoreJob))
}

var errNoUpgrader = &appError{Status: http.StatusNotFound, Title: "Not available", Message: "Upgrades and the history are not available in this wizard."}

// releaseNotice is the home page's notice of a checkout that moved; empty
// when there is nothing to say or it cannot be told.
func (d *Deps) releaseNotice(ctx context.Context) web.ReleaseNotice {
	if d.Upgrade == nil {
		return web.ReleaseNotice{}
	}
	rel, err := d.Upgrade.Releases(ctx)
	if err != nil {
		d.Log.Warn("could not tell which release is installed", "err", err)
		return web.ReleaseNotice{}
	}
	return web.ReleaseNotice{Text: rel.Notice(), Older: rel.Direction() == upgrade.Backward}
}

// upgradeView builds the Upgrade page from the state and the latest job.
func (d *Deps) upgradeView(ctx context.Context, st wizard.State) (web.UpgradeView, error) {
	v := web.UpgradeView{Progress: web.NewProgress(st, ""), BackupDir: d.Upgrade.BackupDir()}
	o, err := d.Upgrade.Plan(ctx, st)
	v.Releases = o.Releases
	v.Notice = web.ReleaseNotice{Text: o.Releases.Notice(), Older: o.Releases.Direction() == upgrade.Backward}
	if err != nil {
		d.Log.Warn("upgrade plan failed", "err", err)
		v.PlanError = "The upgrade could not be planned: " + err.Error()
		if rel, rerr := d.Upgrade.Releases(ctx); rerr == nil {
			v.Releases = rel
		}
		return v, nil
	}
	v.Nothing = o.Nothing
	if o.Nothing == "" {
		v.Plan, v.Install, v.Blocked = &o.Plan, o.Install, o.Blocked()
		v.MinVersion = slices.ContainsFunc(o.Plan.Blocking, func(r check.Result) bool { return r.ID == "upgrade.min_version" })
	}
	if id, ok := d.Upgrade.LatestUpgrade(); ok {
		v.Latest = id
		// The last upgrade of the same move tells what it stopped at.
		if job, ok := d.Upgrade.Upgrade(id); ok && job.Live && job.Record.Done() && job.Report.To == o.Releases.CheckedOut {
			rep := job.Report
			if rep.Step(upgradeflow.StepPreflight).Status == upgradeflow.Failed {
				var failed []check.Result
				for _, r := range rep.Preflight {
					if r.Status == check.Fail || r.Status == check.Error {
						failed = append(failed, r)
					}
				}
				v.Preflight = web.ChecksView{Run: wizard.NewCheckRun(rep.Started, failed)}
			}
			if b := rep.Backup; b != nil && len(b.Unavailable) > 0 && rep.Step(upgradeflow.StepBackup).Status == upgradeflow.Failed {
				v.NeedSnapshot, v.Unavailable = true, b.Unavailable
			}
		}
	}
	return v, nil
}

// handleUpgrade shows the Upgrade page.
func (d *Deps) handleUpgrade(w http.ResponseWriter, r *http.Request) error {
	if d.Upgrade == nil {
		return errNoUpgrader
	}
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	v, err := d.upgradeView(r.Context(), st)
	if err != nil {
		return err
	}
	return render(w, r, http.StatusOK, web.UpgradePage(v))
}

// handleUpgradeCheckout checks out a newer release tag with git.
func (d *Deps) handleUpgradeCheckout(w http.ResponseWriter, r *http.Request) error {
	if d.Upgrade == nil {
		return errNoUpgrader
	}
	if err := parseForm(w, r, 4<<10); err != nil {
		return err
	}
	tag := r.PostFormValue("tag")
	err := d.Upgrade.Checkout(r.Context(), tag)
	if err == nil {
		d.Log.Info("release checked out", "tag", tag)
		return redirect(w, r, "/upgrade")
	}
	st, lerr := d.Store.Load()
	if lerr != nil {
		return lerr
	}
	v, verr := d.upgradeView(r.Context(), st)
	if verr != nil {
		return verr
	}
	var dirty *gitrepo.DirtyError
	if errors.As(err, &dirty) {
		v.CheckoutError, v.Dirty = "git did not check out "+tag+": these tracked files are modified. Commit, stash or undo them first; nothing was changed.", dirty.Files
	} else {
		v.CheckoutError = "git did not check out " + tag + ": " + err.Error()
	}
	return render(w, r, http.StatusUnprocessableEntity, web.UpgradePage(v))
}

// handleUpgradePackage takes the newer customer package the new release's
// MIN_VERSION asks for; the next plan merges it.
func (d *Deps) handleUpgradePackage(w http.ResponseWriter, r *http.Request) error {
	if d.Upgrade == nil {
		return errNoUpgrader
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxPackageUpload)
	var up steps.PackageUpload
	if err := r.ParseMultipartForm(maxPackageUpload); err == nil {
		defer r.MultipartForm.RemoveAll()
		up.Zip, _ = formFile(r, wizard.FieldZip)
		if len(up.Zip) == 0 {
			up.CustomerEnv, _ = formFile(r, wizard.FieldCustomerEnv)
			up.KeyJSON, _ = formFile(r, wizard.FieldKeyJSON)
		}
	}
	out, err := d.Steps.Package(up)
	if err != nil {
		return err
	}
	if out.Refused() {
		v, err := d.upgradeView(r.Context(), out.State)
		if err != nil {
			return err
		}
		v.Package = web.PackageUploadView{Errors: out.Errors, Checks: web.ChecksView{Run: out.Run}}
		v.MinVersion = true
		return render(w, r, http.StatusUnprocessableEntity, web.UpgradePage(v))
	}
	// The package passed its checks against the checked-out release.
	if _, err := d.Store.Update(func(s *wizard.State) error { s.MarkDone(wizard.Package); return nil }); err != nil {
		return err
	}
	d.Log.Info("newer customer package accepted for the upgrade", "version", out.State.Package.Summary.PackageVersion)
	return redirect(w, r, "/upgrade")
}

// handleUpgradeStart starts the upgrade job, if the plan lets it.
func (d *Deps) handleUpgradeStart(w http.ResponseWriter, r *http.Request) error {
	if d.Upgrade == nil {
		return errNoUpgrader
	}
	if err := parseForm(w, r, 64<<10); err != nil {
		return err
	}
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	v, err := d.upgradeView(r.Context(), st)
	if err != nil {
		return err
	}
	if v.Plan == nil || v.Blocked {
		v.Error = "The upgrade cannot start: see the plan."
		return render(w, r, http.StatusUnprocessableEntity, web.UpgradePage(v))
	}
	opts := upgradeflow.Options{SnapshotReason: strings.TrimSpace(r.PostFormValue("snapshot_reason")), Reasons: map[string]string{}}
	for k, vals := range r.PostForm {
		if id, ok := strings.CutPrefix(k, "override."); ok && len(vals) > 0 && strings.TrimSpace(vals[0]) != "" {
			opts.Reasons[id] = strings.TrimSpace(vals[0])
		}
	}
	id, err := d.Upgrade.StartUpgrade(opts)
	if errors.Is(err, jobs.ErrBusy) {
		return redirect(w, r, "/upgrade/jobs/"+id)
	}
	if err != nil {
		return err
	}
	d.Log.Info("upgrade started", "job", id, "from", v.Plan.From, "to", v.Plan.To)
	return redirect(w, r, "/upgrade/jobs/"+id)
}

// handleUpgradeJob shows an upgrade job.
func (d *Deps) handleUpgradeJob(w http.ResponseWriter, r *http.Request) error {
	if d.Upgrade == nil {
		return errNoUpgrader
	}
	job, ok := d.Upgrade.Upgrade(r.PathValue("id"))
	if !ok {
		return &appError{Status: http.StatusNotFound, Title: "No such upgrade", Message: "There is no upgrade with that ID."}
	}
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	rec := job.Record
	return render(w, r, http.StatusOK, web.UpgradeJobPage(web.UpgradeJobView{Progress: web.NewProgress(st, ""), ID: rec.ID,
		Status: string(rec.Status), Error: rec.Error, Started: rec.Started, Live: job.Live, Report: job.Report, Lines: job.Lines}))
}
