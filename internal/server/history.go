package server

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/carto-setup/carto-setup/internal/history"
	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/upgradeflow"
	"github.com/carto-setup/carto-setup/web"
)

// handleHistory lists the history, newest first.
func (d *Deps) handleHistory(w http.ResponseWriter, r *http.Request) error {
	if d.Upgrade == nil {
		return errNoUpgrader
	}
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	entries, err := d.Upgrade.Entries()
	if err != nil {
		return err
	}
	return render(w, r, http.StatusOK, web.HistoryPage(web.HistoryView{Progress: web.NewProgress(st, ""), Entries: entries, Notice: d.releaseNotice(r.Context())}))
}

// entryID reads the entry ID of the URL.
func entryID(r *http.Request) (int, error) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id <= 0 {
		return 0, &appError{Status: http.StatusNotFound, Title: "No such entry", Message: "There is no history entry with that number."}
	}
	return id, nil
}

// handleRestorePreview says what restoring an entry will do.
func (d *Deps) handleRestorePreview(w http.ResponseWriter, r *http.Request) error {
	if d.Upgrade == nil {
		return errNoUpgrader
	}
	id, err := entryID(r)
	if err != nil {
		return err
	}
	p, err := d.Upgrade.PreviewRestore(r.Context(), id)
	if errors.Is(err, history.ErrNotFound) {
		return &appError{Status: http.StatusNotFound, Title: "No such entry", Message: "That history entry is not (or no longer) kept."}
	}
	if err != nil {
		return &appError{Status: http.StatusUnprocessableEntity, Title: "This entry cannot be restored", Message: err.Error()}
	}
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	return render(w, r, http.StatusOK, web.RestorePreviewPage(web.RestorePreviewView{Progress: web.NewProgress(st, ""), Preview: p}))
}

// handleRestoreStart starts restoring an entry.
func (d *Deps) handleRestoreStart(w http.ResponseWriter, r *http.Request) error {
	if d.Upgrade == nil {
		return errNoUpgrader
	}
	id, err := entryID(r)
	if err != nil {
		return err
	}
	if err := parseForm(w, r, 4<<10); err != nil {
		return err
	}
	job, err := d.Upgrade.StartRestore(id, upgradeflow.RestoreOptions{DatabaseRestored: r.PostFormValue("database_restored") == "yes"})
	if errors.Is(err, jobs.ErrBusy) {
		return redirect(w, r, "/restore/jobs/"+job)
	}
	if err != nil {
		return err
	}
	d.Log.Info("restore started", "job", job, "entry", id)
	return redirect(w, r, "/restore/jobs/"+job)
}

// handleRestoreJob shows a restore job.
func (d *Deps) handleRestoreJob(w http.ResponseWriter, r *http.Request) error {
	if d.Upgrade == nil {
		return errNoUpgrader
	}
	job, ok := d.Upgrade.Restore(r.PathValue("id"))
	if !ok {
		return &appError{Status: http.StatusNotFound, Title: "No such restore", Message: "There is no restore with that ID."}
	}
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	rec := job.Record
	return render(w, r, http.StatusOK, web.RestoreJobPage(web.RestoreJobView{Progress: web.NewProgress(st, ""), ID: rec.ID, Status: string(rec.Status),
		Error: rec.Error, Started: rec.Started, Live: job.Live, Report: job.Report, Lines: job.Lines}))
}
