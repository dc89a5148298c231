package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

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
	return render(w, r, http.StatusOK, web.ReviewStep(web.ReviewStepView{Progress: web.NewProgress(st, wizard.Review), Review: reviewData(rev)}))
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
	view := web.ReviewStepView{Progress: web.NewProgress(st, wizard.Review), Review: reviewData(rev)}
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
	return render(w, r, http.StatusOK, web.JobPage(web.JobPageView{Progress: web.NewProgress(st, wizard.Install), Job: installData(job)}))
}

// reviewData is the review page's model of a planned install.
func reviewData(rv steps.Review) web.ReviewData {
	rd := web.ReviewData{Command: rv.Command, Problems: rv.Problems}
	for _, l := range rv.Diff {
		op := string(l.Kind)
		if l.Kind == deploy.DiffHunk {
			op = "@"
		}
		rd.Diff = append(rd.Diff, web.DiffLine{Op: op, Text: l.Text})
	}
	for _, f := range rv.Files {
		rd.Files = append(rd.Files, web.FileView{Path: f.Path, Mode: fmt.Sprintf("%04o", f.Mode.Perm()), Size: f.Size, Secret: f.Secret})
	}
	return rd
}

// installData is the install page's model of a job.
func installData(s steps.InstallStatus) web.InstallData {
	rec := s.Record
	d := web.InstallData{ID: rec.ID, Status: string(rec.Status), Error: rec.Error, Started: rec.Started, Ended: rec.Ended}
	for _, e := range s.Expected {
		st := e.Status
		state := st.State
		if state == "" {
			state = "not created yet"
		}
		expected := "running"
		if e.Service == deploy.MigrationsService {
			expected = "exited (0)"
		}
		d.Services = append(d.Services, web.ServiceView{
			Service: e.Service, Container: st.Container, State: state, ExitCode: st.ExitCode, Restarts: st.Restarts,
			Health: st.Health, StartedAt: st.StartedAt, Expected: expected, Status: string(e.Verdict), Reason: e.Reason,
		})
	}
	for _, f := range s.Failing {
		d.Failing = append(d.Failing, web.FailingView{Service: f.Service, Reason: f.Reason, Hint: f.Hint, LastLines: f.Lines})
	}
	for _, l := range s.Lines {
		d.Lines = append(d.Lines, l.Service+" | "+l.Text)
	}
	return d
}
