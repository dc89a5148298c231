package server

import (
	"net/http"

	"github.com/carto-setup/carto-setup/internal/domaincheck"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/web"
)

func (d *Deps) domainView(st wizard.State, in wizard.DomainInput, errs wizard.FieldErrors, checks web.ChecksView) web.DomainStepView {
	v := web.DomainStepView{Progress: web.NewProgress(st, wizard.Domain), Input: in, Errors: errs, Checks: checks}
	if in.Domain != "" && in.BrowserNonce != "" && len(checks.Run.Results) > 0 {
		v.BrowserURL = "http://" + in.Domain + domaincheck.NoncePath + in.BrowserNonce
	}
	return v
}

// handleDomainForm shows the saved domain and its last check run.
func (d *Deps) handleDomainForm(w http.ResponseWriter, r *http.Request) error {
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	return render(w, r, http.StatusOK, web.DomainStep(d.domainView(st, st.Domain, nil, web.ChecksView{Run: st.Checks[wizard.Domain]})))
}

// handleDomainSubmit validates the domain; "check" runs the checks and
// shows them, "next" runs them when the domain is new and continues.
func (d *Deps) handleDomainSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r, 64<<10); err != nil {
		return err
	}
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	f := steps.DomainForm{Domain: r.PostFormValue(wizard.FieldDomain)}
	action := r.PostFormValue("action")
	_, checked := st.Checks[wizard.Domain]
	if action == "check" || !checked || f.Name() != st.Domain.Domain {
		out, err := d.Steps.Domain(r.Context(), f)
		if err != nil {
			return err
		}
		if out.Refused() {
			// Nothing is saved: the saved domain and its checks stay.
			in := out.State.Domain
			in.Domain = f.Domain
			return render(w, r, http.StatusUnprocessableEntity, web.DomainStep(d.domainView(out.State, in, out.Errors, web.ChecksView{})))
		}
		if action == "check" {
			return redirect(w, r, stepURL(wizard.Domain))
		}
	}
	return d.continueStep(w, r, wizard.Domain, func(st wizard.State, v web.ChecksView) error {
		return render(w, r, http.StatusUnprocessableEntity, web.DomainStep(d.domainView(st, st.Domain, nil, v)))
	})
}
