package preflight

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
)

// EgressTargets returns the host:port endpoints the VM must reach over
// HTTPS: the required, deployment and LDS services of CARTO's deployment
// requirements page (auth, Pub/Sub, www.googleapis.com, OpenAI for AI
// Agents, storage, Cloud Resource Manager, TomTom and HERE), plus the Google services of CARTO's older
// whitelisted_domains list, plus the custom bucket endpoint when cfg uses
// S3 or Azure (GCS is in the list already). An S3-compatible endpoint
// given as http:// is returned as "http://host:port", to be probed without
// TLS. Data-warehouse endpoints are not included: they depend on
// connections made later, inside CARTO. The image registry (gcr.io) is not
// among them: the registry checks (package registrycheck, results
// preflight.registry.<host>) ask it the way Docker will, and pass offline
// when every image is present.
func EgressTargets(cfg Config) []string {
	if cfg.EgressTargets != nil {
		return cfg.EgressTargets
	}
	hosts := []string{
		"auth.carto.com",
		"storage.googleapis.com",
		"pubsub.googleapis.com",
		"iamcredentials.googleapis.com",
		"logging.googleapis.com",
		"bigquery.googleapis.com",
		"sqladmin.googleapis.com",
		"www.googleapis.com",
		"tools.google.com",
		"api.tomtom.com",
		"isoline.router.hereapi.com",
		"api.openai.com",
		"cloudresourcemanager.googleapis.com",
	}
	switch cfg.BucketProvider {
	case BucketsS3:
		switch {
		case cfg.S3Endpoint != "":
			hosts = append(hosts, endpointHostPort(cfg.S3Endpoint))
		case cfg.S3Region != "":
			hosts = append(hosts, "s3."+cfg.S3Region+".amazonaws.com")
		default:
			hosts = append(hosts, "s3.amazonaws.com")
		}
	case BucketsAzure:
		if cfg.AzureAccount != "" {
			hosts = append(hosts, cfg.AzureAccount+".blob.core.windows.net")
		}
	}
	targets := make([]string, len(hosts))
	for i, h := range hosts {
		if _, _, err := net.SplitHostPort(strings.TrimPrefix(h, plainPrefix)); err != nil {
			h = net.JoinHostPort(h, "443")
		}
		targets[i] = h
	}
	return targets
}

// plainPrefix marks a target that speaks plain HTTP: it is probed with a
// TCP connect alone.
const plainPrefix = "http://"

// endpointHostPort turns an S3-compatible endpoint, given as a URL or a
// bare host[:port], into host[:port], or http://host:port for a plain
// HTTP endpoint.
func endpointHostPort(endpoint string) string {
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		if u.Scheme == "http" {
			port := u.Port()
			if port == "" {
				port = "80"
			}
			return plainPrefix + net.JoinHostPort(u.Hostname(), port)
		}
		return u.Host
	}
	return strings.TrimSuffix(endpoint, "/")
}

func checkEgress(ctx context.Context, deps Deps, cfg Config) []check.Result {
	targets := EgressTargets(cfg)
	results := make([]check.Result, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() { results[i] = probeEgress(ctx, deps, t, cfg.egressTimeout()) })
	}
	wg.Wait()
	return results
}

// probeEgress connects to target and completes a TLS handshake with the
// host as SNI, verifying the certificate, all within timeout. Verification
// matters: a TLS-inspecting proxy answers the connect but presents its own
// certificate, which CARTO's services will reject too. A target written
// http://host:port speaks plain HTTP and is only connected to.
func probeEgress(ctx context.Context, deps Deps, target string, timeout time.Duration) check.Result {
	target, plain := strings.CutPrefix(target, plainPrefix)
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		host = target
	}
	id := "preflight.egress." + host
	required := "TCP connect and TLS handshake to " + target + " within " + timeout.String()
	fail := func(measured, hint string) check.Result {
		return result(id, check.Fail, measured, required,
			"This VM cannot reach "+host+", which CARTO's services need.", hint)
	}
	const firewallHint = "Allow outbound HTTPS (TCP 443) from this VM to %s in the firewall or security group. If the VM must use a proxy, set it in customer.env (HTTPS_PROXY); this check connects directly."

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := deps.Dial(ctx, "tcp", target)
	if err != nil {
		var dnsErr *net.DNSError
		switch {
		case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
			return fail("DNS: "+host+" does not resolve", "Check the VM's DNS resolver (resolvectl status or /etc/resolv.conf); it must resolve public names.")
		case errors.As(err, &dnsErr):
			return fail("DNS: lookup of "+host+" failed", "Check the VM's DNS resolver (resolvectl status or /etc/resolv.conf); it must resolve public names.")
		case isTimeout(err):
			return fail("connect: no answer within "+timeout.String(), fmt.Sprintf(firewallHint, host))
		case errors.Is(err, syscall.ECONNREFUSED):
			return fail("connect: refused", fmt.Sprintf(firewallHint, host))
		case errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH):
			return fail("connect: network unreachable", "Check the VM's default route and outbound firewall; "+fmt.Sprintf(firewallHint, host))
		}
		return fail("connect: failed", fmt.Sprintf(firewallHint, host))
	}
	defer conn.Close()
	if plain {
		return result(id, check.Pass, "TCP to "+target+" OK (plain HTTP, no TLS)", "TCP connect to "+target+" within "+timeout.String(), host+" is reachable.", "")
	}
	tc := tls.Client(conn, &tls.Config{ServerName: host, RootCAs: deps.RootCAs, MinVersion: tls.VersionTLS12})
	if err := tc.HandshakeContext(ctx); err != nil {
		var unknownCA x509.UnknownAuthorityError
		var hostErr x509.HostnameError
		var certErr *tls.CertificateVerificationError
		switch {
		case errors.As(err, &unknownCA) || errors.As(err, &hostErr) || errors.As(err, &certErr):
			return fail("TLS: certificate not trusted", "Something between this VM and "+host+" presents its own certificate (a TLS-inspecting proxy?). Exempt "+host+" from inspection, or give CARTO the proxy's CA (NODE_EXTRA_CA_CERTS).")
		case isTimeout(err):
			return fail("TLS: no handshake within "+timeout.String(), fmt.Sprintf(firewallHint, host))
		}
		return fail("TLS: handshake failed", fmt.Sprintf(firewallHint, host))
	}
	return result(id, check.Pass, "TCP and TLS to "+target+" OK", required, host+" is reachable.", "")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
