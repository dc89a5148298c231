package steps

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/domaincheck"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// DomainChecker runs the domain step's live checks. DomainProbe is the real
// one.
type DomainChecker interface {
	// NewNonce returns a fresh nonce served on port 80, for the admin's
	// browser to fetch.
	NewNonce() string
	// Check checks DNS and reachability of an already valid domain;
	// browserNonce is the nonce the admin's browser was asked to fetch.
	Check(ctx context.Context, domain, browserNonce string) []check.Result
}

// DomainForm is the domain step's input: the domain as typed or written in
// the answers file.
type DomainForm struct {
	Domain string
}

// Validate checks that the domain is a full domain name, never a path,
// scheme or port.
func (f DomainForm) Validate() wizard.FieldErrors {
	errs := wizard.FieldErrors{}
	if _, problem := domaincheck.Validate(f.Domain); problem != "" {
		errs.Add(wizard.FieldDomain, problem)
	}
	return errs
}

// Name is the domain in its canonical form (lower case, no trailing dot),
// or "" when it is not valid.
func (f DomainForm) Name() string {
	d, _ := domaincheck.Validate(f.Domain)
	return d
}

// Domain validates the domain and runs its checks. A new domain gets a new
// browser nonce and clears the step's done mark; the check run is saved
// with it.
func (s *Steps) Domain(ctx context.Context, f DomainForm) (Outcome, error) {
	if errs := f.Validate(); len(errs) > 0 {
		st, err := s.store.Load()
		return Outcome{State: st, Errors: errs}, err
	}
	domain := f.Name()
	st, err := s.store.Load()
	if err != nil {
		return Outcome{}, err
	}
	nonce := st.Domain.BrowserNonce
	if domain != st.Domain.Domain || nonce == "" {
		nonce = s.d.Domain.NewNonce()
	}
	run := wizard.NewCheckRun(s.d.Now(), s.d.Domain.Check(ctx, domain, nonce))
	st, _, err = s.save(func(st *wizard.State) wizard.FieldErrors {
		record(st, wizard.Domain, run, st.Domain.Domain != domain)
		st.Domain = wizard.DomainInput{Domain: domain, BrowserNonce: nonce}
		return nil
	})
	return Outcome{State: st, Run: run}, err
}

// Port80 keeps the wizard's plain-HTTP listener open while a check needs
// it (domain nonces, ACME challenges).
type Port80 interface {
	Ensure(ctx context.Context) error
}

// DomainProbe is the real DomainChecker: DNS against this VM's addresses,
// a nonce fetched over port 80 from this VM, and whether the admin's
// browser fetched its own nonce.
type DomainProbe struct {
	Log      *slog.Logger
	Resolver *net.Resolver
	Nonces   *domaincheck.Nonces
	Port80   Port80
}

// NewNonce returns a nonce for the admin's browser to fetch.
func (p *DomainProbe) NewNonce() string { return p.Nonces.New() }

// Check runs every domain check for an already valid domain. When port 80
// cannot be opened the reachability check says so, as a result.
func (p *DomainProbe) Check(ctx context.Context, domain, browserNonce string) []check.Result {
	log := p.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	local, _ := domaincheck.LocalAddrs()
	results := domaincheck.Resolve(ctx, p.Resolver, domain, local)
	if err := p.Port80.Ensure(ctx); err != nil {
		msg, hint := "Port 80 could not be opened on this VM, so reachability was not tested.", "Free port 80 and run the checks again."
		var le *domaincheck.ListenError
		if errors.As(err, &le) && le.Kind == domaincheck.ListenPermission {
			hint = "carto-setup could neither bind port 80 nor publish it through Docker: run it as a user in the docker group, or grant CAP_NET_BIND_SERVICE, and run the checks again."
		}
		log.Warn("port 80 unavailable for the domain check", "err", err)
		return append(results, check.Result{Step: domaincheck.Step, ID: domaincheck.IDReachable, Status: check.Error, Measured: "port 80 not available",
			Required: "port 80 reachable from the internet", Message: msg, Hint: hint, Field: wizard.FieldDomain})
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	server := domaincheck.Probe(pctx, domaincheck.NewProbeClient(&net.Dialer{Resolver: p.Resolver}), domain, p.Nonces.New())
	results = append(results, server.Result)
	var browserOK *bool
	if browserNonce != "" && p.Nonces.Valid(browserNonce) {
		if hits := p.Nonces.Hits(browserNonce); len(hits) > 0 {
			ok := true
			browserOK = &ok
			results = append(results, domaincheck.BrowserResult(domain, hits))
		}
	}
	return append(results, domaincheck.Combine(server, browserOK))
}
