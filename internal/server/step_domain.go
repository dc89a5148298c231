package server

import (
	"net/http"

	"github.com/carto-setup/carto-setup/internal/domaincheck"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/web"
)

func (d *Deps) domainView(st wizard.State, in wizard.DomainInput, errs wizard.FieldErrors, checks web.ChecksView) web.DomainStepView {
	checks.Continue = true
	v := web.DomainStepView{Progress: web.NewProgress(st, wizard.Domain), Input: in, Errors: errs, Checks: checks}
	if name, _ := domaincheck.Validate(in.Domain); name != "" && in.BrowserNonce != "" && len(checks.Run.Results) > 0 {
		v.BrowserURL = "http://" + name + domaincheck.NoncePath + in.BrowserNonce
	}
	return v
}

// handleDomainForm shows the saved domain and its last check run.
func (d *Deps) handleDomainForm(w http.ResponseWriter, r *http.Request) error {
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	run := st.Checks[wizard.Domain]
	return render(w, r, http.StatusOK, web.DomainStep(d.domainView(st, st.Domain, nil, web.ChecksView{Run: run, Reasons: st.Reasons(run)})))
}

// handleDomainSubmit validates the domain; "check" runs the checks and
// keeps the domain only when they all pass, "next" runs them when the
// domain is new and keeps it only when the admin may continue past them.
// Whatever is refused (422) saves nothing: the saved domain, its checks
// and the install's certificate stay as they were.
func (d *Deps) handleDomainSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r, 64<<10); err != nil {
		return err
	}
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	f := steps.DomainForm{Domain: r.PostFormValue(wizard.FieldDomain), BrowserNonce: r.PostFormValue("browser_nonce")}
	action := r.PostFormValue("action")
	reasons := formReasons(r)
	_, checked := st.Checks[wizard.Domain]
	refused := func(out steps.Outcome) error {
		in := out.State.Domain
		in.Domain = f.Domain
		checks := web.ChecksView{Run: out.Run, Reasons: reasons}
		errs := out.Errors // the domain itself is wrong: nothing was checked
		if len(out.Run.Results) > 0 {
			// The checks ran: a test that did not pass shows them; a
			// Continue needs reasons for them.
			errs = wizard.FieldErrors{}
			if action != "check" {
				checks.Errors = out.Errors
			}
		}
		return render(w, r, http.StatusUnprocessableEntity, web.DomainStep(d.domainView(out.State, in, errs, checks)))
	}
	switch {
	case action == "check":
		out, err := d.Steps.Testing().Domain(r.Context(), f)
		if err != nil {
			return err
		}
		if out.Refused() {
			return refused(out)
		}
		return redirect(w, r, stepURL(wizard.Domain))
	case !checked || f.Name() != st.Domain.Domain:
		out, err := d.Steps.Continuing(reasons).Domain(r.Context(), f)
		if err != nil {
			return err
		}
		if out.Refused() {
			return refused(out)
		}
		return redirect(w, r, stepURL(wizard.Next(wizard.Domain)))
	}
	return d.continueStep(w, r, wizard.Domain, func(st wizard.State, v web.ChecksView) error {
		return render(w, r, http.StatusUnprocessableEntity, web.DomainStep(d.domainView(st, st.Domain, nil, v)))
	})
}
