package app

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/carto-setup/carto-setup/internal/acmeissue"
	"github.com/carto-setup/carto-setup/internal/config"
	"github.com/carto-setup/carto-setup/internal/domaincheck"
	"github.com/carto-setup/carto-setup/internal/steps"
)

// live is the port-80 listener with what it serves (domain nonces, ACME
// challenges), the domain checker and the ACME client: one set, built by
// newLive for the wizard, check, apply and renew alike.
type live struct {
	nonces     *domaincheck.Nonces
	challenges *acmeissue.HTTPResponder
	port80     *port80
	domain     *steps.DomainProbe
	acme       *acmeClient
	closeAll   func()
}

// liveOptions change what the port-80 listener serves.
type liveOptions struct {
	// challengesOnly serves ACME challenges and nothing else (renew,
	// while the router is stopped).
	challengesOnly bool
	// idle is how long the listener stays open without use.
	idle time.Duration
}

// newLive builds the live set from the configuration. Close releases the
// port and the Docker client the relay may have made.
func newLive(cfg config.Config, log *slog.Logger, now func() time.Time, o liveOptions) (*live, error) {
	if o.idle <= 0 {
		o.idle = 15 * time.Minute
	}
	l := &live{nonces: domaincheck.NewNonces(now, 0), challenges: acmeissue.NewHTTPResponder()}
	var handler http.Handler = domaincheck.NonceHandler(l.nonces, l.challenges.Handler(http.NotFoundHandler()))
	if o.challengesOnly {
		handler = l.challenges
	}
	binder, closeBinder := newPort80Binder(cfg.HTTPAddr, log)
	l.port80 = &port80{log: log, binder: binder, handler: handler, idle: o.idle}
	l.closeAll = func() {
		l.port80.Close()
		closeBinder()
	}
	l.domain = &steps.DomainProbe{Log: log, Resolver: newResolver(cfg.Resolver), Nonces: l.nonces, Port80: l.port80}
	acme, err := newACME(cfg, l.port80, l.challenges)
	if err != nil {
		l.closeAll()
		return nil, err
	}
	l.acme = acme
	return l, nil
}

// Close releases port 80 and the engine client.
func (l *live) Close() { l.closeAll() }

func newResolver(server string) *net.Resolver {
	if server == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, server)
	}}
}
