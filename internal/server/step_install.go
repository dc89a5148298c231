package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/statelock"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/web"
)

// Installer plans and runs the install; steps.Installer is the real one,
// handler tests pass a fake.
type Installer interface {
	// Review computes what the install would write and run, without
	// writing anything.
	Review(ctx context.Context, st wizard.State) (steps.Review, error)
	// Start starts an install job for st and returns its ID, or
	// jobs.ErrBusy while one runs.
	Start(st wizard.State) (string, error)
	// Status is the state of a job, or false for an unknown ID.
	Status(id string) (steps.InstallStatus, bool)
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
	return render(w, r, http.StatusOK, web.ReviewStep(web.ReviewStepView{Progress: web.NewProgress(st, wizard.Review), Review: reviewData(rev),
		Release: d.releaseNotice(r.Context())}))
}

// handleReviewSubmit saves the admin's choices for the conflicts
// ("resolve") and shows the plan again, or starts the install and sends
// the admin to its page. The install is refused while a check fails or a
// conflict is open.
func (d *Deps) handleReviewSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r, maxReviewForm); err != nil {
		return err
	}
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	rev, err := d.Installer.Review(r.Context(), st)
	if err != nil {
		return err
	}
	view := web.ReviewStepView{Progress: web.NewProgress(st, wizard.Review), Review: reviewData(rev), Release: d.releaseNotice(r.Context())}
	if r.PostFormValue("action") == "resolve" {
		return d.resolveConflicts(w, r, view)
	}
	if view.Release.Text != "" {
		// As apply refuses: an install from here would put the other
		// release in place without the upgrade's plan and backup.
		view.Error = "Nothing was installed: " + view.Release.Text + ". An install from here would skip the upgrade's plan and its database backup."
		return render(w, r, http.StatusConflict, web.ReviewStep(view))
	}
	if len(rev.Problems) > 0 {
		view.Error = "Fix the problems below before installing."
		return render(w, r, http.StatusUnprocessableEntity, web.ReviewStep(view))
	}
	if view.Review.Report.Open() {
		view.Error = "Choose, for each conflict below, whether your edit or the proposed value stays; nothing is installed until then."
		return render(w, r, http.StatusUnprocessableEntity, web.ReviewStep(view))
	}
	id, err := d.Installer.Start(st)
	if errors.Is(err, jobs.ErrBusy) {
		if latest, ok := d.Installer.Latest(); ok {
			return redirect(w, r, "/jobs/"+latest)
		}
	}
	var ce *deploy.ConflictError
	if errors.As(err, &ce) {
		// customer.env changed between the review and the click.
		view.Error = "customer.env changed since this page was shown; review it again."
		return render(w, r, http.StatusUnprocessableEntity, web.ReviewStep(view))
	}
	var busy *statelock.BusyError
	if errors.As(err, &busy) {
		view.Error = "Not started: " + busy.Error() + ". Wait for it to finish, then install again."
		return render(w, r, http.StatusConflict, web.ReviewStep(view))
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
	return render(w, r, http.StatusOK, web.JobPage(web.JobPageView{Progress: web.NewProgress(st, wizard.Install), Job: installData(job, d.Now()),
		CanRemove: d.canRemove(st, job)}))
}

// reviewData is the review page's model of a planned install.
func reviewData(rv steps.Review) web.ReviewData {
	rd := web.ReviewData{Command: rv.Command, Problems: rv.Problems, Report: reviewReport(rv.Report), ImagesError: rv.ImagesError}
	for _, im := range rv.Images {
		rd.Images = append(rd.Images, web.ImageStateView{Ref: im.Ref, Present: im.Present})
	}
	for _, l := range rv.Diff {
		op := string(l.Kind)
		if l.Kind == deploy.DiffHunk {
			op = "@"
		}
		rd.Diff = append(rd.Diff, web.DiffLine{Op: op, Text: l.Text})
	}
	return rd
}

// installData is the install page's model of a job at now.
func installData(s steps.InstallStatus, now time.Time) web.InstallData {
	rec := s.Record
	d := web.InstallData{ID: rec.ID, Status: string(rec.Status), Error: rec.Error, Started: rec.Started, Ended: rec.Ended, Now: now}
	for _, e := range s.Expected {
		st := e.Status
		expected := "running"
		if e.Service == deploy.MigrationsService {
			expected = "exited (0)"
		}
		c := web.ChipView{
			Service: e.Service, Container: st.Container, State: st.State, ExitCode: st.ExitCode, Restarts: st.Restarts,
			Health: st.Health, StartedAt: st.StartedAt, Expected: expected, Verdict: string(e.Verdict), Reason: e.Reason,
		}
		if st.State == deploy.StateRunning {
			c.Uptime = web.Uptime(st.StartedAt, time.Now()) // the daemon's clock
		}
		d.Services = append(d.Services, c)
	}
	for _, f := range s.Failing {
		d.Failing = append(d.Failing, web.FailingView{Service: f.Service, Reason: f.Reason, Hint: f.Hint, LastLines: f.Lines})
	}
	for _, l := range s.Lines {
		d.Lines = append(d.Lines, l.Service+" | "+l.Text)
	}
	d.Images = imagesBoard(s.Images)
	return d
}
