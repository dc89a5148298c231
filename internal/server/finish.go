package server

import (
	"net/http"
	"strings"

	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/web"
)

// lockConfirm is what the admin types to lock the wizard, so that a stray
// click (or an empty form) never locks it.
const lockConfirm = "lock"

func (d *Deps) finishView(st wizard.State) (web.FinishView, error) {
	v := web.FinishView{Progress: web.NewProgress(st, wizard.Smoke), Domain: st.Domain.Domain, Smoke: st.Checks[wizard.Smoke], ConfirmText: lockConfirm}
	if st.LastInstall.Domain != "" {
		v.Domain = st.LastInstall.Domain // the links go where CARTO answers now
	}
	for _, o := range st.Overrides {
		if o.Reason != wizard.WarningReason {
			v.Overrides = append(v.Overrides, o)
		}
	}
	if d.Smoke != nil {
		var err error
		if v.Checklist, err = d.checklist(); err != nil {
			return v, err
		}
	}
	return v, nil
}

// handleFinish shows the summary once the smoke test is done.
func (d *Deps) handleFinish(w http.ResponseWriter, r *http.Request) error {
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	if !st.Done[wizard.Smoke] {
		return redirect(w, r, stepURL(wizard.FirstIncomplete(st)))
	}
	v, err := d.finishView(st)
	if err != nil {
		return err
	}
	v.Release = d.releaseNotice(r.Context())
	return render(w, r, http.StatusOK, web.FinishPage(v))
}

// handleLock locks the wizard: every session ends, sign-in is refused and
// so every step page and the install action are closed, until `carto-setup
// token` issues a new token on the VM.
func (d *Deps) handleLock(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r, 4<<10); err != nil {
		return err
	}
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	if !st.Done[wizard.Smoke] {
		return redirect(w, r, stepURL(wizard.FirstIncomplete(st)))
	}
	if !strings.EqualFold(strings.TrimSpace(r.PostFormValue("confirm")), lockConfirm) {
		v, err := d.finishView(st)
		if err != nil {
			return err
		}
		v.Error = "Type the word " + lockConfirm + " in this box to lock the wizard."
		return render(w, r, http.StatusUnprocessableEntity, web.FinishPage(v))
	}
	if err := d.Auth.Lock(); err != nil {
		return err
	}
	d.Log.Warn("wizard locked: sign-in is refused until `carto-setup token` issues a new token", "remote", clientAddr(r))
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	return render(w, r, http.StatusOK, web.LockedPage())
}
