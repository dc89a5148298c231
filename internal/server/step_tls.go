package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/carto-setup/carto-setup/internal/certcheck"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/web"
)

const maxCertUpload = 3*maxCAUpload + 64<<10

func (d *Deps) tlsView(st wizard.State, f steps.TLSForm, errs wizard.FieldErrors, checks web.ChecksView, notice string) web.TLSStepView {
	dir := f.ACMEDirectory
	if dir == "" {
		dir = d.ACMEDirectory
	}
	checks.Continue = true
	return web.TLSStepView{
		Progress: web.NewProgress(st, wizard.TLS), Domain: st.Domain.Domain, Mode: f.Mode, ACMEEmail: f.ACMEEmail, ACMEDir: dir, AcceptTOS: f.AcceptTOS,
		Errors: errs, Checks: checks, HasCert: st.TLS.CertPEM != "", Fingerprint: st.TLS.Fingerprint, Notice: notice,
	}
}

// handleTLSForm shows the current certificate and the three options.
// After a certificate with warnings was saved, it shows them with the way
// on, rather than hiding them behind the next step.
func (d *Deps) handleTLSForm(w http.ResponseWriter, r *http.Request) error {
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	mode := st.TLS.Mode
	if mode == "" {
		mode = wizard.TLSSelfSigned
	}
	run := st.Checks[wizard.TLS]
	v := d.tlsView(st, steps.TLSForm{Mode: mode, ACMEEmail: st.TLS.ACMEEmail, ACMEDirectory: st.TLS.ACMEDirectory}, nil, web.ChecksView{Run: run, Reasons: st.Reasons(run)}, "")
	if r.URL.Query().Get("saved") == "warnings" && st.Done[wizard.TLS] {
		v.Notice = "The certificate is saved. Read its warnings below, then go on."
		v.NextURL = stepURL(wizard.Next(wizard.TLS))
	}
	return render(w, r, http.StatusOK, web.TLSStep(v))
}

// handleTLSCertificate lets the admin download the router certificate
// (never the key) to compare or trust it.
func (d *Deps) handleTLSCertificate(w http.ResponseWriter, r *http.Request) error {
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	if st.TLS.CertPEM == "" {
		return &appError{Status: http.StatusNotFound, Title: "No certificate yet", Message: "Choose a certificate on the TLS step first."}
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Content-Disposition", `attachment; filename="carto-router.crt"`)
	_, err = w.Write([]byte(st.TLS.CertPEM))
	return err
}

// handleTLSSubmit makes, checks or obtains the certificate for the chosen
// mode. The saved certificate is replaced only when the new one is ready
// and the admin may continue past its checks; anything refused (422)
// saves nothing, and uploaded files are held for the form.
func (d *Deps) handleTLSSubmit(w http.ResponseWriter, r *http.Request) error {
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	key := draftKey(r, wizard.TLS)
	held := d.drafts.get(key, d.Now())
	r.Body = http.MaxBytesReader(w, r.Body, maxCertUpload)
	if err := r.ParseMultipartForm(maxCertUpload); err != nil {
		msg := "The form could not be read. Try again."
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			msg = "The upload is too large: certificates and keys are PEM files of a few kilobytes."
		}
		return render(w, r, http.StatusUnprocessableEntity, web.TLSStep(d.tlsView(st, steps.TLSForm{Mode: wizard.TLSUpload}, wizard.FieldErrors{"cert": msg}, web.ChecksView{}, "")))
	}
	defer r.MultipartForm.RemoveAll()
	f := steps.TLSForm{
		Mode:      r.FormValue(wizard.FieldTLSMode),
		ACMEEmail: strings.TrimSpace(r.FormValue(wizard.FieldACMEEmail)), ACMEDirectory: strings.TrimSpace(r.FormValue("acme_directory")),
		AcceptTOS: r.FormValue(wizard.FieldACMETOS) == "on",
	}
	reasons := formReasons(r)
	errs := wizard.FieldErrors{}
	files := map[string]string{}
	rerender := func(errs wizard.FieldErrors, checks web.ChecksView) error {
		d.drafts.hold(key, files, d.Now())
		checks.Reasons = reasons
		v := d.tlsView(st, f, errs, checks, "")
		switch {
		case files[heldACMECert] != "":
			v.Notice = "The certificate was obtained and is kept for this form: give the reasons below and continue; no new one is ordered."
		case len(files) > 0:
			v.Notice = "The files you chose are kept for this form: continue without choosing them again, or choose others."
		}
		return render(w, r, http.StatusUnprocessableEntity, web.TLSStep(v))
	}
	if st.Domain.Domain == "" {
		return redirect(w, r, stepURL(wizard.Domain))
	}
	if f.Mode == wizard.TLSACME && held[heldACMECert] != "" {
		// Obtained for an earlier attempt that needed a reason: use it
		// rather than order another.
		files = map[string]string{heldACMECert: held[heldACMECert], heldACMEKey: held[heldACMEKey], heldACMEAccount: held[heldACMEAccount]}
		f.CertPEM, f.KeyPEM, f.ACMEAccount = held[heldACMECert], held[heldACMEKey], held[heldACMEAccount]
	}
	if f.Mode == wizard.TLSUpload {
		for _, name := range []string{wizard.FieldCert, wizard.FieldChain, wizard.FieldKey} {
			if v, ok := uploaded(r, name, errs); ok {
				files[name] = v
			}
		}
		if len(errs) > 0 {
			files = nil
			return rerender(errs, web.ChecksView{})
		}
		if len(files) == 0 {
			files = held // nothing chosen: what this form holds
		}
		switch {
		case files[wizard.FieldCert] != "" || files[wizard.FieldKey] != "":
			f.CertPEM, f.ChainPEM, f.KeyPEM = files[wizard.FieldCert], files[wizard.FieldChain], files[wizard.FieldKey]
		case st.TLS.Mode == wizard.TLSUpload && st.TLS.CertPEM != "":
			f.CertPEM, f.KeyPEM = st.TLS.CertPEM, st.TLS.KeyPEM // nothing uploaded: re-check what is saved
		}
	}
	out, err := d.Steps.Continuing(reasons).TLS(r.Context(), f)
	if err != nil {
		return err
	}
	if out.Refused() {
		checks := web.ChecksView{Run: out.Run}
		fieldErrs := out.Errors
		switch {
		case !hasOverrideErrors(out.Errors):
			files = nil // the files themselves cannot be used: nothing to keep
		case f.Mode == wizard.TLSACME && out.Made != nil:
			files = map[string]string{heldACMECert: out.Made.CertPEM, heldACMEKey: out.Made.KeyPEM, heldACMEAccount: out.Made.ACMEAccount}
			checks.Errors, fieldErrs = out.Errors, nil
		default:
			checks.Errors, fieldErrs = out.Errors, steps.FailedFields(out.Run.Results)
		}
		return rerender(fieldErrs, checks)
	}
	d.drafts.drop(key)
	for _, res := range out.Run.Results {
		if res.Status == check.Warn && res.ID != certcheck.IDSelfSigned {
			return redirect(w, r, stepURL(wizard.TLS)+"?saved=warnings")
		}
	}
	return redirect(w, r, stepURL(wizard.Next(wizard.TLS)))
}

// The draft names of a certificate obtained from the CA for a submission
// that then needed a reason.
const (
	heldACMECert    = "acme_cert"
	heldACMEKey     = "acme_key"
	heldACMEAccount = "acme_account"
)

// hasOverrideErrors says the refusal asks for reasons (the input itself
// was usable).
func hasOverrideErrors(errs wizard.FieldErrors) bool {
	for k := range errs {
		if strings.HasPrefix(k, wizard.OverrideField("")) {
			return true
		}
	}
	return false
}
