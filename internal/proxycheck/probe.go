package proxycheck

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"

	"github.com/carto-setup/carto-setup/internal/check"
)

// prober probes through the configured proxies.
type prober struct {
	deps  Deps
	cfg   Config
	roots *x509.CertPool // the public roots plus the bundle
}

// rootsWith returns base (the system roots when nil) with the bundle
// added, as Node adds NODE_EXTRA_CA_CERTS to its own roots.
func rootsWith(base *x509.CertPool, bundle []*x509.Certificate) (*x509.CertPool, error) {
	var pool *x509.CertPool
	if base != nil {
		pool = base.Clone()
	} else {
		sys, err := x509.SystemCertPool()
		if err != nil {
			return nil, err
		}
		pool = sys
	}
	for _, c := range bundle {
		pool.AddCert(c)
	}
	return pool, nil
}

// proxyFor returns the proxy URL a target goes through, "" when NO_PROXY
// exempts it or no proxy serves its scheme.
func (p prober) proxyFor(target string) string {
	hostport, plain := strings.CutPrefix(target, plainPrefix)
	if bypass(p.cfg.NoProxy, hostport) {
		return ""
	}
	if plain {
		return p.cfg.HTTPProxy
	}
	return p.cfg.HTTPSProxy
}

// proxyAddr returns a proxy URL's host:port, with the scheme's default
// port.
func proxyAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// dialProxy connects to the proxy, with TLS to an https:// proxy.
func (p prober) dialProxy(ctx context.Context, proxy string) (net.Conn, error) {
	u, err := url.Parse(proxy)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("the proxy %q is not a URL", proxy)
	}
	conn, err := p.deps.Dial(ctx, "tcp", proxyAddr(u))
	if err != nil {
		return nil, err
	}
	if u.Scheme != "https" {
		return conn, nil
	}
	tc := tls.Client(conn, &tls.Config{ServerName: u.Hostname(), RootCAs: p.roots, MinVersion: tls.VersionTLS12})
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("TLS with the proxy: %w", err)
	}
	return tc, nil
}

// reachProxy checks that the proxy accepts connections.
func (p prober) reachProxy(ctx context.Context, proxy, field string) check.Result {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	required := "a connection to the proxy within " + p.cfg.Timeout.String()
	conn, err := p.dialProxy(ctx, proxy)
	if err != nil {
		return result(IDProxyConnect, check.Fail, field, "connect: "+reason(err), required,
			"This VM cannot connect to the proxy "+redactURL(proxy)+".",
			"Check the proxy's host and port, and that the firewall lets this VM reach it.")
	}
	conn.Close()
	return result(IDProxyConnect, check.Pass, field, "connected", required, "The proxy "+redactURL(proxy)+" accepts connections.", "")
}

// tunnel asks the proxy on conn for a tunnel to hostport (HTTP CONNECT).
func tunnel(ctx context.Context, conn net.Conn, hostport string) (net.Conn, error) {
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: hostport}, Host: hostport, Header: http.Header{}}
	if err := req.Write(conn); err != nil {
		return nil, fmt.Errorf("CONNECT: %w", err)
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, fmt.Errorf("CONNECT: %w", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, &connectError{status: res.Status}
	}
	if br.Buffered() > 0 {
		return nil, errors.New("CONNECT: the proxy sent data before the tunnel was used")
	}
	return conn, nil
}

// connectError is a proxy that refused the tunnel.
type connectError struct{ status string }

func (e *connectError) Error() string { return "the proxy answered " + e.status }

// probe connects to target through proxy ("" is direct) and, unless the
// target is plain HTTP, completes a TLS handshake verified with the public
// roots and the bundle, as the services will.
func (p prober) probe(ctx context.Context, target, proxy string) check.Result {
	hostport, plain := strings.CutPrefix(target, plainPrefix)
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	id := IDEgressPrefix + host
	via := "through " + redactURL(proxy)
	if proxy == "" {
		via = "directly (NO_PROXY)"
	}
	required := "a verified TLS handshake with " + hostport + " " + via + " within " + p.cfg.Timeout.String()
	if plain {
		required = "a connection to " + hostport + " " + via + " within " + p.cfg.Timeout.String()
	}
	fail := func(measured, hint string) check.Result {
		return result(id, check.Fail, FieldHTTPSProxy, measured, required,
			"CARTO's services could not reach "+host+" "+via+".", hint)
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	conn, err := p.open(ctx, hostport, proxy)
	if err != nil {
		var ce *connectError
		if errors.As(err, &ce) {
			return fail("CONNECT: "+ce.status, "The proxy refuses the tunnel to "+host+": allow CONNECT to "+hostport+" in its rules.")
		}
		return fail(reason(err), "Check that the proxy can reach "+host+" and that nothing between them drops the traffic.")
	}
	defer conn.Close()
	if plain {
		return result(id, check.Pass, "", "connected "+via, required, host+" is reachable "+via+".", "")
	}
	tc := tls.Client(conn, &tls.Config{ServerName: host, RootCAs: p.roots, MinVersion: tls.VersionTLS12})
	if err := tc.HandshakeContext(ctx); err != nil {
		if untrusted(err) {
			return fail("TLS: certificate not trusted", "Something on the way presents its own certificate for "+host+
				" (a TLS-inspecting proxy?): add that proxy's CA to the extra CA bundle, or exempt "+host+" from inspection.")
		}
		return fail("TLS: "+reason(err), "Check that the proxy passes TLS to "+host+" through unchanged.")
	}
	return result(id, check.Pass, "", "TLS verified "+via, required, host+" is reachable "+via+".", "")
}

// open returns a connection to hostport, through the proxy or directly.
func (p prober) open(ctx context.Context, hostport, proxy string) (net.Conn, error) {
	if proxy == "" {
		return p.deps.Dial(ctx, "tcp", hostport)
	}
	conn, err := p.dialProxy(ctx, proxy)
	if err != nil {
		return nil, err
	}
	t, err := tunnel(ctx, conn, hostport)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return t, nil
}

// bundleHandshake verifies, through the HTTPS proxy, one egress host's
// certificate with the bundle added to the public roots, and says whether
// the bundle is what makes it trusted (a TLS-inspecting proxy) or not
// needed for it.
func (p prober) bundleHandshake(ctx context.Context, bundle []*x509.Certificate) check.Result {
	var target string
	for _, t := range p.cfg.Targets {
		if !strings.HasPrefix(t, plainPrefix) && p.proxyFor(t) != "" {
			target = t
			break
		}
	}
	required := "a handshake through the proxy verified with the bundle"
	if target == "" {
		return result(IDCAHandshake, check.Warn, FieldCABundle, "no host to try", required,
			"No egress host goes through the HTTPS proxy, so the bundle could not be tried on a handshake.", "")
	}
	host, _, _ := net.SplitHostPort(target)
	try := func(roots *x509.CertPool) error {
		tctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
		defer cancel()
		conn, err := p.open(tctx, target, p.proxyFor(target))
		if err != nil {
			return err
		}
		defer conn.Close()
		return tls.Client(conn, &tls.Config{ServerName: host, RootCAs: roots, MinVersion: tls.VersionTLS12}).HandshakeContext(tctx)
	}
	if err := try(p.roots); err != nil {
		if untrusted(err) {
			return result(IDCAHandshake, check.Fail, FieldCABundle, "not trusted with the bundle", required,
				"Through the proxy, "+host+" presents a certificate that neither the public CAs nor the bundle's CAs sign.",
				"Add the CA your proxy signs its certificates with to the bundle (ask whoever runs the proxy).")
		}
		return result(IDCAHandshake, check.Error, FieldCABundle, reason(err), required,
			"The handshake with "+host+" through the proxy did not complete, so the bundle could not be tried.", "See the egress checks of this step.")
	}
	public, err := rootsWith(p.deps.RootCAs, nil)
	if err == nil && try(public) == nil {
		return result(IDCAHandshake, check.Pass, FieldCABundle, "trusted without the bundle", required,
			"Through the proxy, "+host+" presents its public certificate: the proxy does not inspect TLS, and the bundle is not needed for it.", "")
	}
	return result(IDCAHandshake, check.Pass, FieldCABundle, "trusted with the bundle", required,
		fmt.Sprintf("Through the proxy, %s presents a certificate signed by the bundle's CA (%d certificate(s)): the services will trust it.", host, len(bundle)), "")
}

func untrusted(err error) bool {
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certErr *tls.CertificateVerificationError
	return errors.As(err, &unknownCA) || errors.As(err, &hostErr) || errors.As(err, &certErr)
}

// reason words a network error briefly.
func reason(err error) string {
	var dnsErr *net.DNSError
	var ce *connectError
	switch {
	case errors.As(err, &ce):
		return ce.Error()
	case errors.As(err, &dnsErr):
		return "the name does not resolve"
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		return "no answer in time"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH):
		return "network unreachable"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "no answer in time"
	}
	return "failed"
}

// redactURL drops any user information from a proxy URL before it is
// shown.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = nil
	return u.String()
}
