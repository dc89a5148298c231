package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/web"
)

// Installer plans and runs the install. The app implements it with the
// deploy package; handler tests pass a fake.
type Installer interface {
	// Review computes what the install would write and run, without
	// writing anything.
	Review(ctx context.Context, st wizard.State) (web.ReviewData, error)
	// Start starts an install job for st and returns its ID, or
	// jobs.ErrBusy while one runs.
	Start(st wizard.State) (string, error)
	// Status is the state of a job, or false for an unknown ID.
	Status(id string) (web.InstallData, bool)
	// Latest is the ID of the most recent install job.
	Latest() (string, bool)
	// Logs is the live log of a job.
	Logs(id string) (*logstream.Hub, bool)
}

// handleReviewForm shows the review of what the install will do.
func (d *Deps) handleReviewForm(w http.ResponseWriter, r *http.Request) error {
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	rev, err := d.Installer.Review(r.Context(), st)
	if err != nil {
		return err
	}
	return render(w, r, http.StatusOK, web.ReviewStep(web.ReviewStepView{Progress: web.NewProgress(st, wizard.Review), Review: rev}))
}

// handleReviewSubmit starts the install and sends the admin to its page.
func (d *Deps) handleReviewSubmit(w http.ResponseWriter, r *http.Request) error {
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	rev, err := d.Installer.Review(r.Context(), st)
	if err != nil {
		return err
	}
	view := web.ReviewStepView{Progress: web.NewProgress(st, wizard.Review), Review: rev}
	if len(rev.Problems) > 0 {
		view.Error = "Fix the problems below before installing."
		return render(w, r, http.StatusUnprocessableEntity, web.ReviewStep(view))
	}
	id, err := d.Installer.Start(st)
	if errors.Is(err, jobs.ErrBusy) {
		if latest, ok := d.Installer.Latest(); ok {
			return redirect(w, r, "/jobs/"+latest)
		}
	}
	if err != nil {
		return err
	}
	if _, err := d.Store.Update(func(s *wizard.State) error { s.MarkDone(wizard.Review); return nil }); err != nil {
		return err
	}
	d.Log.Info("install started", "job", id)
	return redirect(w, r, "/jobs/"+id)
}

// handleInstallStep opens the latest install, or the review when there is
// none yet.
func (d *Deps) handleInstallStep(w http.ResponseWriter, r *http.Request) error {
	if id, ok := d.Installer.Latest(); ok {
		return redirect(w, r, "/jobs/"+id)
	}
	return redirect(w, r, stepURL(wizard.Review))
}

// handleJobPage shows an install job: status, board and the latest lines.
func (d *Deps) handleJobPage(w http.ResponseWriter, r *http.Request) error {
	job, ok := d.Installer.Status(r.PathValue("id"))
	if !ok {
		return &appError{Status: http.StatusNotFound, Title: "No such install", Message: "There is no install with that ID."}
	}
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	return render(w, r, http.StatusOK, web.JobPage(web.JobPageView{Progress: web.NewProgress(st, wizard.Install), Job: job}))
}
