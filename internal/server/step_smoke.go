package server

import (
	"errors"
	"net/http"

	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/smoketest"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/web"
)

// Smoker runs the smoke test as a job and keeps the manual checklist. The
// job stores its results in the state (Checks[wizard.Smoke]) and marks the
// step done when nothing failed; steps.Smoker is the real one.
type Smoker interface {
	// Start starts a smoke-test job for st and returns its ID, or
	// jobs.ErrBusy while one runs.
	Start(st wizard.State) (string, error)
	// Latest is the record of the most recent smoke-test job.
	Latest() (jobs.Record, bool)
	// Checklist returns the saved ticks by item ID; SaveChecklist
	// replaces them.
	Checklist() (map[string]bool, error)
	SaveChecklist(ticks map[string]bool) error
}

// errNoSmoke answers when the app was built without a smoke tester.
var errNoSmoke = &appError{Status: http.StatusNotFound, Title: "Not available", Message: "This wizard cannot run the smoke test."}

func (d *Deps) checklist() ([]web.ChecklistItem, error) {
	ticks, err := d.Smoke.Checklist()
	if err != nil {
		return nil, err
	}
	var out []web.ChecklistItem
	for _, it := range smoketest.Checklist {
		out = append(out, web.ChecklistItem{ID: it.ID, Title: it.Title, Detail: it.Detail, Done: ticks[it.ID]})
	}
	return out, nil
}

func (d *Deps) smokeView(st wizard.State, checks web.ChecksView) (web.SmokeStepView, error) {
	v := web.SmokeStepView{Progress: web.NewProgress(st, wizard.Smoke), Checks: checks}
	rec, has := d.Smoke.Latest()
	v.Job, v.HasJob = smokeJob(rec), has
	// Reasons are asked for only where Continue is offered.
	v.Checks.Continue = len(checks.Run.Results) > 0 && !v.Job.Running()
	var err error
	v.Checklist, err = d.checklist()
	return v, err
}

// handleSmokeForm shows the latest smoke-test run and the checklist.
func (d *Deps) handleSmokeForm(w http.ResponseWriter, r *http.Request) error {
	if d.Smoke == nil {
		return errNoSmoke
	}
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	run := st.Checks[wizard.Smoke]
	v, err := d.smokeView(st, web.ChecksView{Run: run, Reasons: st.Reasons(run)})
	if err != nil {
		return err
	}
	return render(w, r, http.StatusOK, web.SmokeStep(v))
}

// handleSmokeSubmit runs the smoke test ("run"), saves the checklist
// ("checklist"), or continues to the summary ("next"): failures need a
// typed reason, as on every other step.
func (d *Deps) handleSmokeSubmit(w http.ResponseWriter, r *http.Request) error {
	if d.Smoke == nil {
		return errNoSmoke
	}
	if err := parseForm(w, r, 64<<10); err != nil {
		return err
	}
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	switch r.PostFormValue("action") {
	case "run":
		id, err := d.Smoke.Start(st)
		if errors.Is(err, jobs.ErrBusy) {
			return redirect(w, r, stepURL(wizard.Smoke))
		}
		if err != nil {
			return err
		}
		d.Log.Info("smoke test started", "job", id)
		return redirect(w, r, stepURL(wizard.Smoke))
	case "checklist":
		ticks := map[string]bool{}
		for _, id := range smoketest.ChecklistIDs() {
			ticks[id] = r.PostFormValue("item."+id) == "on"
		}
		if err := d.Smoke.SaveChecklist(ticks); err != nil {
			return err
		}
		return redirect(w, r, stepURL(wizard.Smoke)+"#checklist")
	case "next":
		return d.continuePastSmoke(w, r, st)
	}
	return &appError{Status: http.StatusBadRequest, Title: "Unknown action", Message: "The form asked for an action this page does not have. Go back and try again."}
}

// smokeJob is the smoke page's model of a job record.
func smokeJob(rec jobs.Record) web.SmokeJob {
	return web.SmokeJob{ID: rec.ID, Status: string(rec.Status), Error: rec.Error, Started: rec.Started, Ended: rec.Ended}
}

// continuePastSmoke gates the summary on the stored smoke-test run, with
// the same override rules as every other step.
func (d *Deps) continuePastSmoke(w http.ResponseWriter, r *http.Request, st wizard.State) error {
	run, ok := st.Checks[wizard.Smoke]
	rerender := func(v web.SmokeStepView) error {
		return render(w, r, http.StatusUnprocessableEntity, web.SmokeStep(v))
	}
	if job, has := d.Smoke.Latest(); has && !job.Done() || !ok {
		v, err := d.smokeView(st, web.ChecksView{Run: run})
		if err != nil {
			return err
		}
		v.Error = "Wait for the smoke test to finish (or run it) before you continue."
		return rerender(v)
	}
	reasons := overrideReasons(r, run)
	out, _, err := d.Steps.Continue(wizard.Smoke, reasons)
	if err != nil {
		return err
	}
	if out.Refused() {
		v, err := d.smokeView(out.State, web.ChecksView{Run: out.Run, Reasons: reasons, Errors: out.Errors})
		if err != nil {
			return err
		}
		return rerender(v)
	}
	return redirect(w, r, "/finish")
}
