package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/web"
)

const maxCertUpload = 3*maxCAUpload + 64<<10

func (d *Deps) tlsView(st wizard.State, mode, email, dir string, errs wizard.FieldErrors, checks web.ChecksView, notice string) web.TLSStepView {
	if dir == "" {
		dir = d.ACMEDirectory
	}
	return web.TLSStepView{
		Progress: web.NewProgress(st, wizard.TLS), Domain: st.Domain.Domain, Mode: mode, ACMEEmail: email, ACMEDir: dir,
		Errors: errs, Checks: checks, HasCert: st.TLS.CertPEM != "", Fingerprint: st.TLS.Fingerprint, Notice: notice,
	}
}

// handleTLSForm shows the current certificate and the three options.
func (d *Deps) handleTLSForm(w http.ResponseWriter, r *http.Request) error {
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	mode := st.TLS.Mode
	if mode == "" {
		mode = wizard.TLSSelfSigned
	}
	return render(w, r, http.StatusOK, web.TLSStep(d.tlsView(st, mode, st.TLS.ACMEEmail, st.TLS.ACMEDirectory, nil, web.ChecksView{Run: st.Checks[wizard.TLS]}, "")))
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
// mode. The saved certificate is replaced only when the new one is ready.
func (d *Deps) handleTLSSubmit(w http.ResponseWriter, r *http.Request) error {
	st, err := d.Store.Load()
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxCertUpload)
	if err := r.ParseMultipartForm(maxCertUpload); err != nil {
		msg := "The form could not be read. Try again."
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			msg = "The upload is too large: certificates and keys are PEM files of a few kilobytes."
		}
		return render(w, r, http.StatusUnprocessableEntity, web.TLSStep(d.tlsView(st, wizard.TLSUpload, "", "", wizard.FieldErrors{"cert": msg}, web.ChecksView{}, "")))
	}
	defer r.MultipartForm.RemoveAll()
	f := steps.TLSForm{
		Mode:      r.FormValue(wizard.FieldTLSMode),
		ACMEEmail: strings.TrimSpace(r.FormValue(wizard.FieldACMEEmail)), ACMEDirectory: strings.TrimSpace(r.FormValue("acme_directory")),
		AcceptTOS: r.FormValue(wizard.FieldACMETOS) == "on",
	}
	mode, email, dir := f.Mode, f.ACMEEmail, f.ACMEDirectory
	if dir == "" && mode == wizard.TLSACME {
		dir = d.ACMEDirectory
	}
	errs := wizard.FieldErrors{}
	rerender := func(errs wizard.FieldErrors, checks web.ChecksView) error {
		return render(w, r, http.StatusUnprocessableEntity, web.TLSStep(d.tlsView(st, mode, email, dir, errs, checks, "")))
	}
	if st.Domain.Domain == "" {
		return redirect(w, r, stepURL(wizard.Domain))
	}
	if mode == wizard.TLSUpload {
		cert, certOK := uploaded(r, wizard.FieldCert, errs)
		f.ChainPEM, _ = uploaded(r, wizard.FieldChain, errs)
		key, keyOK := uploaded(r, wizard.FieldKey, errs)
		if len(errs) > 0 {
			return rerender(errs, web.ChecksView{})
		}
		if !certOK && !keyOK && st.TLS.Mode == wizard.TLSUpload && st.TLS.CertPEM != "" {
			cert, key = st.TLS.CertPEM, st.TLS.KeyPEM // nothing uploaded: re-check what is saved
		}
		f.CertPEM, f.KeyPEM = cert, key
	}
	out, err := d.Steps.TLS(r.Context(), f)
	if err != nil {
		return err
	}
	if out.Refused() {
		checks := web.ChecksView{}
		if mode == wizard.TLSUpload {
			checks.Run = out.Run // why the upload cannot be used
		}
		return rerender(out.Errors, checks)
	}
	return d.continueStep(w, r, wizard.TLS, func(st wizard.State, v web.ChecksView) error {
		fieldErrs := wizard.FieldErrors{}
		if mode == wizard.TLSUpload {
			fieldErrs = steps.FailedFields(out.Run.Results)
		}
		return render(w, r, http.StatusUnprocessableEntity, web.TLSStep(d.tlsView(st, mode, email, dir, fieldErrs, v, "")))
	})
}
