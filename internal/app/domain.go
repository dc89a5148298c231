package app

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/domaincheck"
)

// domainChecker runs the domain step's checks: DNS against this VM's
// addresses, a nonce fetched over port 80 from this VM, and whether the
// admin's browser fetched its own nonce.
type domainChecker struct {
	log      *slog.Logger
	resolver *net.Resolver
	nonces   *domaincheck.Nonces
	port80   *port80
}

func newResolver(server string) *net.Resolver {
	if server == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, server)
	}}
}

// NewNonce returns a nonce for the admin's browser to fetch.
func (c *domainChecker) NewNonce() string { return c.nonces.New() }

// Check runs every domain check for an already valid domain.
func (c *domainChecker) Check(ctx context.Context, domain, browserNonce string) []check.Result {
	local, _ := domaincheck.LocalAddrs()
	results := domaincheck.Resolve(ctx, c.resolver, domain, local)
	if err := c.port80.Ensure(ctx); err != nil {
		msg, hint := "Port 80 could not be opened on this VM, so reachability was not tested.", "Free port 80 and run the checks again."
		var le *domaincheck.ListenError
		if errors.As(err, &le) && le.Kind == domaincheck.ListenPermission {
			hint = "carto-setup could neither bind port 80 nor publish it through Docker: run it as a user in the docker group, or grant CAP_NET_BIND_SERVICE, and run the checks again."
		}
		c.log.Warn("port 80 unavailable for the domain check", "err", err)
		return append(results, check.Result{Step: domaincheck.Step, ID: domaincheck.IDReachable, Status: check.Error, Measured: "port 80 not available", Required: "port 80 reachable from the internet", Message: msg, Hint: hint, Field: "domain"})
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	server := domaincheck.Probe(pctx, domaincheck.NewProbeClient(&net.Dialer{Resolver: c.resolver}), domain, c.nonces.New())
	results = append(results, server.Result)
	var browserOK *bool
	if browserNonce != "" && c.nonces.Valid(browserNonce) {
		hits := c.nonces.Hits(browserNonce)
		if len(hits) > 0 {
			ok := true
			browserOK = &ok
			results = append(results, domaincheck.BrowserResult(domain, hits))
		}
	}
	return append(results, domaincheck.Combine(server, browserOK))
}
