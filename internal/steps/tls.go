package steps

import (
	"context"
	"errors"
	"net/mail"

	"github.com/carto-setup/carto-setup/internal/certcheck"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// TLSForm is the TLS step's input. With self-signed or acme, CertPEM and
// KeyPEM may hold a certificate made earlier (an exported answers file):
// it is kept while it still serves the domain.
type TLSForm struct {
	Mode string
	// CertPEM, ChainPEM and KeyPEM are the uploaded certificate, its
	// chain and its private key.
	CertPEM, ChainPEM, KeyPEM string
	ACMEEmail                 string
	// ACMEDirectory is the ACME directory; empty means the default.
	ACMEDirectory string
	// AcceptTOS accepts the certificate authority's terms of service.
	AcceptTOS bool
	// NoIssue checks without ordering a certificate, to spare the CA's
	// rate limits (`carto-setup check`).
	NoIssue bool
	// ACMEAccount is the account key that obtained CertPEM when it comes
	// from a submission that was refused (Outcome.Made); empty means the
	// saved one.
	ACMEAccount string
}

// TLSModeDefault is the mode offered on the wizard's first visit.
const TLSModeDefault = wizard.TLSSelfSigned

// Validate checks the choice and what it needs.
func (f TLSForm) Validate() wizard.FieldErrors {
	errs := wizard.FieldErrors{}
	switch f.Mode {
	case wizard.TLSSelfSigned:
	case wizard.TLSUpload:
		if f.CertPEM == "" {
			errs.Add(wizard.FieldCert, "Upload the certificate (PEM).")
		}
		if f.KeyPEM == "" {
			errs.Add(wizard.FieldKey, "Upload the private key (PEM).")
		}
	case wizard.TLSACME:
		if _, err := mail.ParseAddress(f.ACMEEmail); f.ACMEEmail != "" && err != nil {
			errs.Add(wizard.FieldACMEEmail, "Enter an e-mail address such as admin@example.com, or leave it empty.")
		}
		if !f.AcceptTOS {
			errs.Add(wizard.FieldACMETOS, "Accept the certificate authority's terms of service to use it.")
		}
	default:
		errs.Add(wizard.FieldTLSMode, "Choose one of the three options.")
	}
	return errs
}

// ACMEError is an issuance failure whose message is safe to show.
type ACMEError interface {
	error
	Message() string
}

// TLS makes, checks or obtains the router certificate for the domain, as
// the mode says, and saves it. An upload that cannot be used (no matching
// key, not PEM, …) and a failed issuance are refused, with the run saying
// why; the saved certificate is replaced only by one that is ready.
func (s *Steps) TLS(ctx context.Context, f TLSForm) (Outcome, error) {
	st, err := s.store.Load()
	if err != nil {
		return Outcome{}, err
	}
	domain := st.Domain.Domain
	refuse := func(errs wizard.FieldErrors, results []check.Result) (Outcome, error) {
		var run wizard.CheckRun
		if results != nil {
			run = wizard.NewCheckRun(s.d.Now(), results)
		}
		return Outcome{State: st, Run: run, Errors: errs}, nil
	}
	if domain == "" {
		return refuse(wizard.FieldErrors{wizard.FieldDomain: "Set the domain first: the certificate is made for it."}, nil)
	}
	if errs := f.Validate(); len(errs) > 0 {
		return refuse(errs, nil)
	}
	now := s.d.Now()
	lint := func(certPEM, chainPEM, keyPEM string) certcheck.Report {
		return certcheck.Lint(certcheck.Input{Domain: domain, CertPEM: []byte(certPEM), ChainPEM: []byte(chainPEM), KeyPEM: []byte(keyPEM)}, now, s.d.RootCAs)
	}
	// earlier is a certificate of this mode made before: given in the
	// form, or else the saved one.
	earlier := func() (string, string) {
		if f.CertPEM != "" {
			return f.CertPEM, f.KeyPEM
		}
		if st.TLS.Mode == f.Mode {
			return st.TLS.CertPEM, st.TLS.KeyPEM
		}
		return "", ""
	}
	var next wizard.TLSInput
	var results []check.Result
	switch f.Mode {
	case wizard.TLSSelfSigned:
		// A usable certificate made earlier is kept, so that applying the
		// same answers again writes the same certs/.
		if cert, key := earlier(); cert != "" && lint(cert, "", key).Usable() {
			next = wizard.TLSInput{Mode: f.Mode, CertPEM: cert, KeyPEM: key, Fingerprint: lint(cert, "", key).Fingerprint}
		} else {
			certPEM, keyPEM, fp, err := certcheck.SelfSigned(domain, now)
			if err != nil {
				return Outcome{}, err
			}
			next = wizard.TLSInput{Mode: f.Mode, CertPEM: string(certPEM), KeyPEM: string(keyPEM), Fingerprint: fp}
		}
		results = []check.Result{certcheck.SelfSignedNotice(domain)}
	case wizard.TLSUpload:
		rep := lint(f.CertPEM, f.ChainPEM, f.KeyPEM)
		results = rep.Results
		if !rep.Usable() {
			errs := wizard.FieldErrors{}
			for i, r := range results {
				if r.Status == check.Fail {
					results[i].Fixed = true
					if r.Field != "" {
						errs.Add(r.Field, r.Message)
					}
				}
			}
			if len(errs) == 0 {
				errs.Add(wizard.FieldCert, "This certificate and key cannot be used; see the checks below.")
			}
			return refuse(errs, results)
		}
		next = wizard.TLSInput{Mode: f.Mode, CertPEM: string(rep.FullChainPEM), KeyPEM: string(rep.KeyPEM), Fingerprint: rep.Fingerprint}
	case wizard.TLSACME:
		dir := f.ACMEDirectory
		if dir == "" {
			dir = s.d.ACMEDirectory
		}
		account := st.TLS.ACMEAccount
		if f.ACMEAccount != "" {
			account = f.ACMEAccount
		}
		base := wizard.TLSInput{Mode: f.Mode, ACMEEmail: f.ACMEEmail, ACMEDirectory: dir, ACMEAccount: account}
		// A certificate obtained earlier is kept while it can be used for
		// the domain and is not due for renewal (a private CA's chain, a
		// clock that is behind, are the admin's to accept); otherwise a
		// new one is ordered.
		if cert, key := earlier(); cert != "" {
			if rep := lint(cert, "", key); rep.Usable() && rep.NotAfter.Sub(now) >= certcheck.ExpiryWarning {
				next = base
				next.CertPEM, next.KeyPEM, next.Fingerprint = string(rep.FullChainPEM), string(rep.KeyPEM), rep.Fingerprint
				results = rep.Results
				break
			}
		}
		if f.NoIssue {
			next = base
			results = []check.Result{{Step: certcheck.Step, ID: "tls.acme", Status: check.Warn, Measured: "not issued yet", Required: "a certificate from " + dir,
				Message: "apply obtains the certificate from " + dir + "; check does not, to spare the CA's rate limits.",
				Hint:    "The domain step's checks show whether the CA can reach this VM on port 80."}}
			break
		}
		actx, cancel := context.WithTimeout(ctx, s.d.ACMETimeout)
		defer cancel()
		certPEM, keyPEM, usedAccount, err := s.d.ACME.Obtain(actx, domain, f.ACMEEmail, dir, []byte(account))
		if err != nil {
			s.d.Log.Warn("acme issuance failed", "domain", domain, "err", err)
			msg := "The certificate could not be obtained."
			var ae ACMEError
			if errors.As(err, &ae) {
				msg = ae.Message()
			}
			return refuse(wizard.FieldErrors{wizard.FieldTLSMode: msg}, []check.Result{{Step: certcheck.Step, ID: "tls.acme", Status: check.Fail, Fixed: true,
				Measured: "not issued", Required: "a certificate from " + dir, Message: msg,
				Hint: "Port 80 of this VM must be reachable from the internet at the domain while the certificate is issued."}})
		}
		rep := lint(string(certPEM), "", string(keyPEM))
		results = rep.Results
		next = base
		next.CertPEM, next.KeyPEM, next.Fingerprint, next.ACMEAccount = string(rep.FullChainPEM), string(rep.KeyPEM), rep.Fingerprint, string(usedAccount)
		if len(rep.FullChainPEM) == 0 {
			next.CertPEM, next.KeyPEM = string(certPEM), string(keyPEM)
		}
	}
	run := wizard.NewCheckRun(now, results)
	st, errs, err := s.save(func(st *wizard.State) wizard.FieldErrors {
		record(st, wizard.TLS, run, st.TLS.CertPEM != next.CertPEM || next.CertPEM == "")
		st.TLS = next
		return s.settle(st, wizard.TLS, run)
	})
	out := Outcome{State: st, Run: run, Errors: errs}
	if len(errs) > 0 && next.CertPEM != "" {
		out.Made = &next
	}
	return out, err
}

// followDomain re-derives the router certificate after the domain changed
// to domain, in the same save as the domain: a self-signed certificate is
// made again for the new name; an uploaded one is checked again and, when
// its names do not cover the new domain, the TLS step is no longer done
// (its run says why); an ACME one that does not cover it is ordered again
// when the admin next continues on the TLS step, which is no longer done.
// The install is then out of date (wizard.State.Changed) until applied.
func (s *Steps) followDomain(st *wizard.State, domain string) error {
	if st.TLS.Mode == "" {
		return nil
	}
	now := s.d.Now()
	switch st.TLS.Mode {
	case wizard.TLSSelfSigned:
		certPEM, keyPEM, fp, err := certcheck.SelfSigned(domain, now)
		if err != nil {
			return err
		}
		st.TLS.CertPEM, st.TLS.KeyPEM, st.TLS.Fingerprint = string(certPEM), string(keyPEM), fp
		record(st, wizard.TLS, wizard.NewCheckRun(now, []check.Result{certcheck.SelfSignedNotice(domain)}), true)
		st.MarkDone(wizard.TLS) // made for the new name: nothing to decide
	case wizard.TLSUpload, wizard.TLSACME:
		if st.TLS.CertPEM == "" {
			delete(st.Done, wizard.TLS)
			return nil
		}
		rep := certcheck.Lint(certcheck.Input{Domain: domain, CertPEM: []byte(st.TLS.CertPEM), KeyPEM: []byte(st.TLS.KeyPEM)}, now, s.d.RootCAs)
		results := rep.Results
		covers := rep.Usable() && !check.Failed(results)
		if !covers && st.TLS.Mode == wizard.TLSACME {
			results = []check.Result{{Step: certcheck.Step, ID: "tls.acme", Status: check.Fail, Fixed: true, Field: wizard.FieldTLSMode,
				Measured: "issued for the previous domain", Required: "a certificate for " + domain,
				Message: "The Let's Encrypt certificate was issued for the previous domain.",
				Hint:    "Continue on this step to order one for " + domain + "."}}
		}
		record(st, wizard.TLS, wizard.NewCheckRun(now, results), true)
		if covers {
			st.MarkDone(wizard.TLS)
		}
	}
	return nil
}
