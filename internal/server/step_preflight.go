package server

import (
	"net/http"
	"strings"

	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/web"
)

// handlePreflightForm shows the last preflight run, running the checks
// first when there is none yet.
func (d *Deps) handlePreflightForm(w http.ResponseWriter, r *http.Request) error {
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	run, ok := st.Checks[wizard.Preflight]
	if !ok {
		out, err := d.Steps.Preflight(r.Context())
		if err != nil {
			return err
		}
		st, run = out.State, out.Run
	}
	return render(w, r, http.StatusOK, web.PreflightStep(web.PreflightStepView{
		Progress: web.NewProgress(st, wizard.Preflight),
		Checks:   web.ChecksView{Run: run, Reasons: st.Reasons(run), Continue: true},
	}))
}

// handlePreflightSubmit re-runs the checks, or continues when nothing
// blocks: warnings are recorded, failures need a typed reason.
func (d *Deps) handlePreflightSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r, 64<<10); err != nil {
		return err
	}
	if r.PostFormValue("action") == "rerun" {
		if _, err := d.Steps.Preflight(r.Context()); err != nil {
			return err
		}
		return redirect(w, r, stepURL(wizard.Preflight))
	}
	return d.continueStep(w, r, wizard.Preflight, func(st wizard.State, v web.ChecksView) error {
		return render(w, r, http.StatusUnprocessableEntity, web.PreflightStep(web.PreflightStepView{
			Progress: web.NewProgress(st, wizard.Preflight), Checks: v,
		}))
	})
}

// continueStep gates a step on its stored check run with the reasons typed
// in the form: with problems it calls rerender; otherwise the step records
// the overrides and marks itself done, and the admin goes on to the next
// step.
func (d *Deps) continueStep(w http.ResponseWriter, r *http.Request, s wizard.Step, rerender func(wizard.State, web.ChecksView) error) error {
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	reasons := overrideReasons(r, st.Checks[s])
	out, ok, err := d.Steps.Continue(s, reasons)
	if err != nil {
		return err
	}
	if !ok {
		return redirect(w, r, stepURL(s))
	}
	if out.Refused() {
		return rerender(out.State, web.ChecksView{Run: out.Run, Reasons: reasons, Errors: out.Errors, Continue: true})
	}
	return redirect(w, r, stepURL(wizard.Next(s)))
}

// overrideReasons reads the reasons typed next to the results of run.
func overrideReasons(r *http.Request, run wizard.CheckRun) map[string]string {
	reasons := map[string]string{}
	for _, res := range run.Results {
		if v := strings.TrimSpace(r.PostFormValue(wizard.OverrideField(res.ID))); v != "" {
			reasons[res.ID] = v
		}
	}
	return reasons
}

// formReasons reads every reason typed in the form, by check ID: a step
// that checks again as it continues gets a new run, whose IDs are not
// known before.
func formReasons(r *http.Request) map[string]string {
	reasons := map[string]string{}
	for name, vs := range r.PostForm {
		id, ok := strings.CutPrefix(name, wizard.OverrideField(""))
		if v := strings.TrimSpace(strings.Join(vs, "")); ok && id != "" && v != "" {
			reasons[id] = v
		}
	}
	return reasons
}
