package proxycheck

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
)

// Step is the step of every result.
const Step = "advanced"

// Check IDs. Egress results are IDEgressPrefix + the host.
const (
	IDCABundle     = "advanced.ca_bundle"
	IDCAHandshake  = "advanced.ca_bundle.handshake"
	IDProxyConnect = "advanced.proxy.connect"
	IDEgressPrefix = "advanced.proxy.egress."
)

// Fields of the Advanced step's form that results name.
const (
	FieldHTTPProxy  = "http_proxy"
	FieldHTTPSProxy = "https_proxy"
	FieldCABundle   = "extra_ca_pem"
)

// DefaultTimeout bounds each probe (connect, CONNECT and TLS together).
const DefaultTimeout = 5 * time.Second

// plainPrefix marks a target that speaks plain HTTP (preflight's form for
// an http:// S3-compatible endpoint).
const plainPrefix = "http://"

// Config is what to check.
type Config struct {
	// HTTPProxy and HTTPSProxy are the proxies of plain HTTP and of HTTPS
	// targets (http:// or https:// URLs); NoProxy lists what bypasses
	// them, as CARTO's services read NO_PROXY.
	HTTPProxy, HTTPSProxy, NoProxy string
	// CABundlePEM are the extra CA certificates the services trust on top
	// of the public ones.
	CABundlePEM []byte
	// Targets are the host:port endpoints CARTO's services must reach
	// (preflight.EgressTargets); "http://host:port" is plain HTTP.
	Targets []string
	// Timeout bounds each probe; zero means DefaultTimeout.
	Timeout time.Duration
}

// Deps are the outside things the checks use.
type Deps struct {
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// RootCAs are the public roots the services trust before the bundle
	// is added; nil means the system roots.
	RootCAs *x509.CertPool
	Now     func() time.Time
}

// DefaultDeps dials with the standard dialer and trusts the system roots.
func DefaultDeps() Deps {
	var d net.Dialer
	return Deps{Dial: d.DialContext, Now: time.Now}
}

// Run checks the bundle and, when a proxy is set, egress through it. It
// returns no result when neither is set.
func Run(ctx context.Context, deps Deps, cfg Config) []check.Result {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	var results []check.Result
	bundle, bundleResult := readBundle(cfg.CABundlePEM, deps.Now())
	if len(cfg.CABundlePEM) > 0 {
		results = append(results, bundleResult)
	}
	if cfg.HTTPProxy == "" && cfg.HTTPSProxy == "" {
		return results
	}
	roots, err := rootsWith(deps.RootCAs, bundle)
	if err != nil {
		return append(results, result(IDProxyConnect, check.Error, FieldHTTPSProxy, "system roots unreadable", "the system's CA certificates",
			"The system's CA certificates could not be read, so no handshake can be verified: "+err.Error()+".", "Install the ca-certificates package."))
	}
	p := prober{deps: deps, cfg: cfg, roots: roots}

	// Each proxy first: when nothing answers there, probing every host
	// through it says the same thing many times.
	usable := map[string]bool{}
	for _, pr := range []struct{ url, field string }{{cfg.HTTPSProxy, FieldHTTPSProxy}, {cfg.HTTPProxy, FieldHTTPProxy}} {
		if _, seen := usable[pr.url]; pr.url == "" || seen {
			continue
		}
		r := p.reachProxy(ctx, pr.url, pr.field)
		results = append(results, r)
		usable[pr.url] = r.Status == check.Pass
	}
	egress := make([]check.Result, len(cfg.Targets))
	var wg sync.WaitGroup
	for i, target := range cfg.Targets {
		proxy := p.proxyFor(target)
		if proxy != "" && !usable[proxy] {
			continue // said once above
		}
		wg.Go(func() { egress[i] = p.probe(ctx, target, proxy) })
	}
	wg.Wait()
	for _, r := range egress {
		if r.ID != "" {
			results = append(results, r)
		}
	}
	if len(bundle) > 0 && usable[cfg.HTTPSProxy] {
		results = append(results, p.bundleHandshake(ctx, bundle))
	}
	return results
}

func result(id string, status check.Status, field, measured, required, message, hint string) check.Result {
	return check.Result{Step: Step, ID: id, Status: status, Field: field, Measured: measured, Required: required, Message: message, Hint: hint}
}

// readBundle parses the bundle: PEM, only CA certificates, none expired
// or not yet valid.
func readBundle(bundle []byte, now time.Time) ([]*x509.Certificate, check.Result) {
	const required = "PEM CA certificates, each valid now"
	fail := func(measured, msg string) ([]*x509.Certificate, check.Result) {
		return nil, result(IDCABundle, check.Fail, FieldCABundle, measured, required, msg,
			"Paste the CA certificates your proxy or private CA uses, in PEM form; ask whoever runs the proxy for its current CA.")
	}
	var certs []*x509.Certificate
	rest := bundle
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return fail("a "+b.Type+" block", "The bundle holds a "+b.Type+" block; it must hold CA certificates only.")
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return fail("unreadable certificate", fmt.Sprintf("Certificate %d of the bundle cannot be read: %v.", len(certs)+1, err))
		}
		name := c.Subject.CommonName
		switch {
		case !c.IsCA:
			return fail("not a CA: "+name, fmt.Sprintf("Certificate %d of the bundle (%s) is not a CA certificate.", len(certs)+1, name))
		case now.After(c.NotAfter):
			return fail("expired: "+name, fmt.Sprintf("The CA certificate %s expired on %s.", name, c.NotAfter.UTC().Format("2006-01-02")))
		case now.Before(c.NotBefore):
			return fail("not yet valid: "+name, fmt.Sprintf("The CA certificate %s is valid only from %s.", name, c.NotBefore.UTC().Format("2006-01-02")))
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 || strings.TrimSpace(string(rest)) != "" {
		return fail("not PEM", "The bundle is not a list of PEM certificates (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----).")
	}
	first := certs[0].NotAfter
	for _, c := range certs {
		if c.NotAfter.Before(first) {
			first = c.NotAfter
		}
	}
	var names []string
	for _, c := range certs {
		names = append(names, c.Subject.CommonName)
	}
	return certs, result(IDCABundle, check.Pass, FieldCABundle,
		fmt.Sprintf("%d CA certificate(s), the first to expire on %s", len(certs), first.UTC().Format("2006-01-02")), required,
		"The bundle holds the CA certificates "+strings.Join(names, ", ")+".", "")
}
