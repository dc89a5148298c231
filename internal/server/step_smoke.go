package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/smoketest"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/web"
)

// Smoker runs the smoke test as a job and keeps the manual checklist. The
// job stores its results in the state (Checks[wizard.Smoke]) and marks the
// step done when nothing failed; the app implements it.
type Smoker interface {
	// Start starts a smoke-test job for st and returns its ID, or
	// jobs.ErrBusy while one runs.
	Start(st wizard.State) (string, error)
	// Latest is the most recent smoke-test job.
	Latest() (web.SmokeJob, bool)
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
	v.Job, v.HasJob = d.Smoke.Latest()
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
	v, err := d.smokeView(st, web.ChecksView{Run: st.Checks[wizard.Smoke]})
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

// continuePastSmoke gates the summary on the stored smoke-test run.
func (d *Deps) continuePastSmoke(w http.ResponseWriter, r *http.Request, st wizard.State) error {
	run, ok := st.Checks[wizard.Smoke]
	rerender := func(v web.SmokeStepView) error {
		return render(w, r, http.StatusUnprocessableEntity, web.SmokeStep(v))
	}
	if job, has := d.Smoke.Latest(); has && job.Running() || !ok {
		v, err := d.smokeView(st, web.ChecksView{Run: run})
		if err != nil {
			return err
		}
		v.Error = "Wait for the smoke test to finish (or run it) before you continue."
		return rerender(v)
	}
	reasons := map[string]string{}
	for _, res := range run.Results {
		if v := strings.TrimSpace(r.PostFormValue(wizard.OverrideField(res.ID))); v != "" {
			reasons[res.ID] = v
		}
	}
	errs, ovs := wizard.Gate(run.Results, reasons, d.Now())
	if len(errs) > 0 {
		v, err := d.smokeView(st, web.ChecksView{Run: run, Reasons: reasons, Errors: errs})
		if err != nil {
			return err
		}
		return rerender(v)
	}
	if _, err := d.Store.Update(func(st *wizard.State) error {
		for _, o := range ovs {
			st.AddOverride(o)
			d.Log.Info("check overridden", "check", o.Check, "reason", o.Reason)
		}
		st.MarkDone(wizard.Smoke)
		return nil
	}); err != nil {
		return err
	}
	return redirect(w, r, "/finish")
}
