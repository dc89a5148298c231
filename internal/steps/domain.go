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
	// BrowserNonce is the nonce the page asked the admin's browser to
	// fetch, when the form carries it: a check that was refused saved
	// nothing, so the nonce the admin already opened lives only in the
	// form.
	BrowserNonce string
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
// with it. A new domain also re-derives the router certificate, which is
// made for it (followDomain).
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
	nonce := f.BrowserNonce
	if nonce == "" && domain == st.Domain.Domain {
		nonce = st.Domain.BrowserNonce
	}
	if nonce == "" {
		nonce = s.d.Domain.NewNonce()
	}
	results := s.d.Domain.Check(ctx, domain, nonce)
	if s.d.Demo {
		results = demoDomain(results)
	}
	run := wizard.NewCheckRun(s.d.Now(), results)
	st, errs, err := s.save(func(st *wizard.State) wizard.FieldErrors {
		changed := st.Domain.Domain != domain
		record(st, wizard.Domain, run, changed)
		st.Domain = wizard.DomainInput{Domain: domain, BrowserNonce: nonce}
		if changed {
			if err := s.followDomain(st, domain); err != nil {
				return wizard.FieldErrors{wizard.FieldDomain: err.Error()}
			}
		}
		return s.settle(st, wizard.Domain, run)
	})
	if len(errs) > 0 {
		st.Domain.BrowserNonce = nonce // the page keeps asking for the same one
	}
	return Outcome{State: st, Run: run, Errors: errs}, err
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
	// RouterHoldsPort80 reports whether CARTO's own router publishes
	// port 80 on this VM (after an install), which is why the wizard
	// cannot open it; nil means it never does.
	RouterHoldsPort80 func(ctx context.Context) bool
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
		if p.RouterHoldsPort80 != nil && p.RouterHoldsPort80(ctx) {
			return coverByResolve(append(results, check.Result{Step: domaincheck.Step, ID: domaincheck.IDReachable, Status: check.Warn,
				Measured: "port 80 served by CARTO's router", Required: "port 80 reachable from the internet", Field: wizard.FieldDomain,
				Message: "Port 80 is served by CARTO's router since the install, so the wizard cannot answer the reachability check on it.",
				Hint:    "After you apply the change, the smoke test checks the router through this domain."}))
		}
		msg, hint := "Port 80 could not be opened on this VM, so reachability was not tested.", "Free port 80 and run the checks again."
		var le *domaincheck.ListenError
		if errors.As(err, &le) && le.Kind == domaincheck.ListenPermission {
			hint = "carto-setup could neither bind port 80 nor publish it through Docker: run it as a user in the docker group, or grant CAP_NET_BIND_SERVICE, and run the checks again."
		}
		log.Warn("port 80 unavailable for the domain check", "err", err)
		return coverByResolve(append(results, check.Result{Step: domaincheck.Step, ID: domaincheck.IDReachable, Status: check.Error, Measured: "port 80 not available",
			Required: "port 80 reachable from the internet", Message: msg, Hint: hint, Field: wizard.FieldDomain}))
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
	return coverByResolve(append(results, domaincheck.Combine(server, browserOK)))
}

// coverByResolve marks the failures a failed DNS lookup explains: the
// domain cannot be fetched when it does not resolve, so one reason for
// domain.resolves covers them (wizard.Gate).
func coverByResolve(results []check.Result) []check.Result {
	resolves := false
	for _, r := range results {
		if r.ID == domaincheck.IDResolves && (r.Status == check.Fail || r.Status == check.Error) {
			resolves = true
		}
	}
	if !resolves {
		return results
	}
	for i, r := range results {
		switch r.ID {
		case domaincheck.IDServerProbe, domaincheck.IDBrowserProbe, domaincheck.IDReachable, domaincheck.IDPointsHere:
			results[i].CoveredBy = domaincheck.IDResolves
		}
	}
	return results
}

// demoDomain turns the domain's DNS and reachability failures into
// warnings for --demo: the stand-in release is reached by address, so a
// demo needs no DNS record and no reason typed for its absence.
func demoDomain(results []check.Result) []check.Result {
	for i, r := range results {
		if (r.Status == check.Fail || r.Status == check.Error) && !r.Fixed {
			results[i].Status = check.Warn
			results[i].Hint = "Demo mode: the stand-in release does not need this, so the demo goes on. " + r.Hint
		}
	}
	return results
}
