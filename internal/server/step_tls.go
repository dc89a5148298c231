package server

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"strings"

	"github.com/carto-setup/carto-setup/internal/certcheck"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/web"
)

const maxCertUpload = 3*maxCAUpload + 64<<10

// ACMEError is an issuance failure whose message is safe to show.
type ACMEError interface {
	error
	Message() string
}

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
	mode := r.FormValue("tls_mode")
	email, dir := strings.TrimSpace(r.FormValue("acme_email")), strings.TrimSpace(r.FormValue("acme_directory"))
	errs := wizard.FieldErrors{}
	rerender := func(errs wizard.FieldErrors, checks web.ChecksView) error {
		return render(w, r, http.StatusUnprocessableEntity, web.TLSStep(d.tlsView(st, mode, email, dir, errs, checks, "")))
	}
	if st.Domain.Domain == "" {
		return redirect(w, r, stepURL(wizard.Domain))
	}
	now := d.Now()
	var next wizard.TLSInput
	var results []check.Result
	switch mode {
	case wizard.TLSSelfSigned:
		next = st.TLS
		if st.TLS.Mode != wizard.TLSSelfSigned || !certcheck.Lint(certcheck.Input{Domain: st.Domain.Domain, CertPEM: []byte(st.TLS.CertPEM), KeyPEM: []byte(st.TLS.KeyPEM)}, now, nil).Usable() {
			certPEM, keyPEM, fp, err := certcheck.SelfSigned(st.Domain.Domain, now)
			if err != nil {
				return err
			}
			next = wizard.TLSInput{Mode: mode, CertPEM: string(certPEM), KeyPEM: string(keyPEM), Fingerprint: fp}
		}
		results = []check.Result{certcheck.SelfSignedNotice(st.Domain.Domain)}
	case wizard.TLSUpload:
		certPEM, certOK := uploaded(r, "cert", errs)
		chainPEM, _ := uploaded(r, "chain", errs)
		keyPEM, keyOK := uploaded(r, "key", errs)
		if len(errs) > 0 {
			return rerender(errs, web.ChecksView{})
		}
		if !certOK || !keyOK {
			if st.TLS.Mode == wizard.TLSUpload && !certOK && !keyOK && st.TLS.CertPEM != "" {
				certPEM, keyPEM = st.TLS.CertPEM, st.TLS.KeyPEM // re-check what is saved
			} else {
				if !certOK {
					errs.Add("cert", "Upload the certificate (PEM).")
				}
				if !keyOK {
					errs.Add("key", "Upload the private key (PEM).")
				}
				return rerender(errs, web.ChecksView{})
			}
		}
		rep := certcheck.Lint(certcheck.Input{Domain: st.Domain.Domain, CertPEM: []byte(certPEM), ChainPEM: []byte(chainPEM), KeyPEM: []byte(keyPEM)}, now, d.RootCAs)
		results = rep.Results
		if !rep.Usable() {
			run := wizard.NewCheckRun(now, results)
			for _, res := range results {
				if res.Status == check.Fail && res.Field != "" {
					errs.Add(res.Field, res.Message)
				}
			}
			return rerender(errs, web.ChecksView{Run: run})
		}
		next = wizard.TLSInput{Mode: mode, CertPEM: string(rep.FullChainPEM), KeyPEM: string(rep.KeyPEM), Fingerprint: rep.Fingerprint}
	case wizard.TLSACME:
		if _, err := mail.ParseAddress(email); email != "" && err != nil {
			errs.Add("acme_email", "Enter an e-mail address such as admin@example.com, or leave it empty.")
		}
		if r.FormValue("acme_tos") != "on" {
			errs.Add("acme_tos", "Accept the certificate authority's terms of service to use it.")
		}
		if dir == "" {
			dir = d.ACMEDirectory
		}
		if len(errs) > 0 {
			return rerender(errs, web.ChecksView{})
		}
		account := []byte(st.TLS.ACMEAccount)
		ctx, cancel := context.WithTimeout(r.Context(), d.ACMETimeout)
		defer cancel()
		certPEM, keyPEM, accountKey, err := d.Checks.ACME(ctx, st.Domain.Domain, email, dir, account)
		if err != nil {
			d.Log.Warn("acme issuance failed", "domain", st.Domain.Domain, "err", err)
			msg := "The certificate could not be obtained."
			var ae ACMEError
			if errors.As(err, &ae) {
				msg = ae.Message()
			}
			errs.Add("tls_mode", msg)
			return rerender(errs, web.ChecksView{})
		}
		rep := certcheck.Lint(certcheck.Input{Domain: st.Domain.Domain, CertPEM: certPEM, KeyPEM: keyPEM}, now, d.RootCAs)
		results = rep.Results
		next = wizard.TLSInput{Mode: mode, CertPEM: string(rep.FullChainPEM), KeyPEM: string(rep.KeyPEM), Fingerprint: rep.Fingerprint,
			ACMEEmail: email, ACMEDirectory: dir, ACMEAccount: string(accountKey)}
		if len(rep.FullChainPEM) == 0 {
			next.CertPEM, next.KeyPEM = string(certPEM), string(keyPEM)
		}
	default:
		errs.Add("tls_mode", "Choose one of the three options.")
		return rerender(errs, web.ChecksView{})
	}
	run := wizard.NewCheckRun(now, results)
	if st, err = d.Store.Update(func(s *wizard.State) error {
		if s.TLS.CertPEM != next.CertPEM {
			delete(s.Done, wizard.TLS)
		}
		s.TLS = next
		s.SetChecks(wizard.TLS, run)
		return nil
	}); err != nil {
		return err
	}
	return d.continueStep(w, r, wizard.TLS, func(st wizard.State, v web.ChecksView) error {
		fieldErrs := wizard.FieldErrors{}
		for _, res := range results {
			if mode == wizard.TLSUpload && res.Status == check.Fail && res.Field != "" {
				fieldErrs.Add(res.Field, res.Message)
			}
		}
		return render(w, r, http.StatusUnprocessableEntity, web.TLSStep(d.tlsView(st, mode, email, dir, fieldErrs, v, "")))
	})
}
