package server

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/web"
)

// FailedRemover is what an Installer also implements when it can remove
// what a failed first install created (steps.Installer does).
type FailedRemover interface {
	RemoveFailed(ctx context.Context, since time.Time, out io.Writer) (deploy.Cleanup, error)
}

// canRemove reports whether the install job may be undone: it failed, no
// install ever succeeded (it was the first), and the installer can.
func (d *Deps) canRemove(st wizard.State, job steps.InstallStatus) bool {
	_, ok := d.Installer.(FailedRemover)
	failed := job.Record.Status == jobs.Failed || job.Record.Status == jobs.Interrupted
	return ok && failed && !st.Done[wizard.Install]
}

// handleRemoveFailed removes what a failed first install created (its
// containers and network, the volumes made since it started) and shows
// the job page with what was removed and what was left.
func (d *Deps) handleRemoveFailed(w http.ResponseWriter, r *http.Request) error {
	job, ok := d.Installer.Status(r.PathValue("id"))
	if !ok {
		return &appError{Status: http.StatusNotFound, Title: "No such install", Message: "There is no install with that ID."}
	}
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	view := web.JobPageView{Progress: web.NewProgress(st, wizard.Install), Job: installData(job, d.Now())}
	if !d.canRemove(st, job) {
		view.Cleanup = &web.CleanupView{Error: "Only a failed first install can be removed: this one is running, succeeded, or an install succeeded before."}
		return render(w, r, http.StatusConflict, web.JobPage(view))
	}
	c, err := d.Installer.(FailedRemover).RemoveFailed(r.Context(), job.Record.Started, io.Discard)
	view.Cleanup = &web.CleanupView{Removed: c.Removed, Left: c.Left}
	if err != nil {
		d.Log.Warn("removing the failed install", "job", job.Record.ID, "err", err)
		view.Cleanup.Error = "The removal stopped: " + err.Error() + ". What is listed was done; try again, or run docker compose down in the release directory."
		return render(w, r, http.StatusInternalServerError, web.JobPage(view))
	}
	d.Log.Info("failed install removed", "job", job.Record.ID, "removed", len(c.Removed))
	return render(w, r, http.StatusOK, web.JobPage(view))
}
