package server

import (
	"net/http"

	"github.com/carto-setup/carto-setup/internal/domaincheck"
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
// shows them, "next" also gates on them and continues.
func (d *Deps) handleDomainSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r, 64<<10); err != nil {
		return err
	}
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	typed := r.PostFormValue("domain")
	domain, problem := domaincheck.Validate(typed)
	if problem != "" {
		// Nothing is saved: the saved domain and its checks stay as they were.
		in := st.Domain
		in.Domain = typed
		return render(w, r, http.StatusUnprocessableEntity, web.DomainStep(d.domainView(st, in, wizard.FieldErrors{"domain": problem}, web.ChecksView{})))
	}
	run, checked := st.Checks[wizard.Domain]
	if r.PostFormValue("action") == "check" || !checked || domain != st.Domain.Domain {
		nonce := st.Domain.BrowserNonce
		if domain != st.Domain.Domain || nonce == "" {
			nonce = d.Checks.NewNonce()
		}
		results := d.Checks.Domain(r.Context(), domain, nonce)
		run = wizard.NewCheckRun(d.Now(), results)
		st, err = d.Store.Update(func(st *wizard.State) error {
			if st.Domain.Domain != domain {
				delete(st.Done, wizard.Domain)
			}
			st.Domain = wizard.DomainInput{Domain: domain, BrowserNonce: nonce}
			st.SetChecks(wizard.Domain, run)
			return nil
		})
		if err != nil {
			return err
		}
		if r.PostFormValue("action") == "check" {
			return redirect(w, r, stepURL(wizard.Domain))
		}
	}
	return d.continuePastChecks(w, r, wizard.Domain, func(st wizard.State, v web.ChecksView) error {
		return render(w, r, http.StatusUnprocessableEntity, web.DomainStep(d.domainView(st, st.Domain, nil, v)))
	})
}
