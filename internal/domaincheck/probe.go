package domaincheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"syscall"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
)

// ProbeDeadline bounds one server-side fetch of the nonce, connection
// included. A firewall that drops packets shows up as this timeout.
const ProbeDeadline = 4 * time.Second

// maxProbeBody is how much of an answer the probe reads; the nonce is 32
// bytes and anything much longer is someone else's page.
const maxProbeBody = 4 << 10

// Dialer opens connections. *net.Dialer satisfies it; its Resolver field
// picks the DNS the probe uses.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// NewProbeClient returns the HTTP client Probe expects: it dials through d,
// ignores HTTP_PROXY (the probe must go the way CARTO's users go, not through
// a corporate proxy), keeps no idle connections, follows no redirects (a
// redirect is itself an answer from something else) and gives up after
// ProbeDeadline.
func NewProbeClient(d Dialer) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           d.DialContext,
			DisableKeepAlives:     true,
			ResponseHeaderTimeout: ProbeDeadline,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       ProbeDeadline,
	}
}

// ProbeKind classifies what a fetch of the nonce ran into. Combine uses it
// to tell hairpin NAT from split DNS when the browser got through.
type ProbeKind string

// The probe outcomes.
const (
	ProbeOK          ProbeKind = "ok"           // the nonce came back
	ProbeProxied     ProbeKind = "proxied"      // the nonce came back through a proxy or CDN
	ProbeNoDNS       ProbeKind = "no_dns"       // the name did not resolve
	ProbeRefused     ProbeKind = "refused"      // nothing listens on port 80 at that address
	ProbeTimeout     ProbeKind = "timeout"      // no connection in time: packets are dropped, usually by a firewall
	ProbeNoAnswer    ProbeKind = "no_answer"    // connected, but no HTTP answer in time
	ProbeUnreachable ProbeKind = "unreachable"  // no route, or the connection was reset
	ProbeOther       ProbeKind = "other"        // something else answered
	ProbeOtherWizard ProbeKind = "other_wizard" // a carto-setup wizard answered that did not know the nonce
	ProbeNotRun      ProbeKind = "not_run"      // the probe itself could not run
)

// ProbeResult is a check result plus the outcome it was derived from and
// the domain it was about.
type ProbeResult struct {
	check.Result
	Kind   ProbeKind
	Domain string
}

// Probe fetches http://<domain>/.well-known/carto-setup/<nonce> with client
// (see NewProbeClient) and says whether this VM's own nonce came back. The
// nonce must be registered in the Nonces a running Port80 server answers for.
// The result has ID IDServerProbe.
func Probe(ctx context.Context, client *http.Client, domain, nonce string) ProbeResult {
	ctx, cancel := context.WithTimeout(ctx, ProbeDeadline)
	defer cancel()
	url := "http://" + domain + NoncePath + nonce

	var connected string
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { connected = info.Conn.RemoteAddr().String() },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return probeResult(ProbeNotRun, check.Error, domain, url, "could not build the request",
			fmt.Sprintf("Could not test %s: the address is not a valid URL.", domain), "Check the domain with Validate first.")
	}
	req.Header.Set("User-Agent", "carto-setup-probe")
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := client.Do(req)
	if err != nil {
		return probeError(domain, url, connected, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxProbeBody))
	if err != nil {
		return probeError(domain, url, connected, err)
	}
	return classifyAnswer(domain, nonce, url, connected, resp, string(body))
}

// classifyAnswer judges an HTTP answer.
func classifyAnswer(domain, nonce, url, connected string, resp *http.Response, body string) ProbeResult {
	proxies := responseProxies(resp.Header)
	measured := fmt.Sprintf("HTTP %d", resp.StatusCode)
	if connected != "" {
		measured += " from " + connected
	}
	if s := resp.Header.Get("Server"); s != "" {
		measured += ", Server: " + s
	}
	if len(proxies) > 0 {
		measured += ", via " + joinAnd(proxies)
	}
	marker := resp.Header.Get(NonceHeader)
	ours := resp.StatusCode == http.StatusOK && strings.TrimSpace(body) == nonce && marker == nonce

	switch {
	case ours && len(proxies) == 0:
		return probeResult(ProbeOK, check.Pass, domain, url, measured,
			fmt.Sprintf("This VM reached itself at http://%s: port 80 answers with this wizard's nonce.", domain), "")
	case ours:
		return probeResult(ProbeProxied, check.Warn, domain, url, measured,
			fmt.Sprintf("Requests to %s reach this VM, but through %s.", domain, joinAnd(proxies)),
			"A proxy or CDN in front of CARTO must pass WebSockets and large uploads and must not cache API answers; if you did not plan one (a Cloudflare orange cloud, for example), switch it to DNS only.")
	case marker != "" && marker != nonce:
		return probeResult(ProbeOtherWizard, check.Fail, domain, url, measured,
			fmt.Sprintf("%s is answered by a carto-setup wizard that does not know this test: the domain points at another machine running the wizard, or the test expired.", domain),
			"Point the domain's DNS records at this VM, or stop the wizard on the other machine, then run the test again.")
	}
	msg := fmt.Sprintf("Something else answers at http://%s (%s), not this wizard.", domain, measured)
	hint := "Point the domain at this VM and make sure port 80 is forwarded to it, not to another server."
	if len(proxies) > 0 {
		msg = fmt.Sprintf("Something else answers at http://%s: the request went to %s, which did not pass it to this VM (a proxy or CDN is in front of the domain).", domain, joinAnd(proxies))
		hint = "Configure the proxy or CDN to forward ports 80 and 443 to this VM, or switch it off (for Cloudflare, set the record to DNS only) while you check."
	}
	return probeResult(ProbeOther, check.Fail, domain, url, measured, msg, hint)
}

// probeError classifies a fetch that got no HTTP answer.
func probeError(domain, url, connected string, err error) ProbeResult {
	var dnsErr *net.DNSError
	var netErr net.Error
	timedOut := errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout()
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsTimeout:
		return probeResult(ProbeNotRun, check.Error, domain, url, "no answer from the DNS server",
			fmt.Sprintf("Could not test %s: this VM's DNS server did not answer in time.", domain),
			"Check the nameservers in /etc/resolv.conf, then run the test again.")
	case errors.As(err, &dnsErr):
		return probeResult(ProbeNoDNS, check.Fail, domain, url, "the name does not resolve from this VM",
			fmt.Sprintf("This VM cannot resolve %s, so it cannot reach it.", domain),
			"Create the DNS record, or check the DNS servers this VM uses (/etc/resolv.conf): CARTO's containers use them too.")
	case errors.Is(err, syscall.ECONNREFUSED):
		return probeResult(ProbeRefused, check.Fail, domain, url, "connection refused"+at(connected, err),
			fmt.Sprintf("Port 80 is closed at %s: the connection was refused.", domain),
			"Nothing listens on port 80 at the address the domain resolves to. If that is this VM, check that the wizard's port 80 listener runs; otherwise point the domain here or forward port 80 to this VM.")
	case timedOut && connected != "":
		return probeResult(ProbeNoAnswer, check.Fail, domain, url, "connected to "+connected+" but no answer within "+ProbeDeadline.String(),
			fmt.Sprintf("Port 80 at %s accepted the connection but sent no answer within %s.", domain, ProbeDeadline),
			"Something between here and the domain holds the connection open without answering, such as a proxy or a firewall that inspects traffic.")
	case timedOut:
		return probeResult(ProbeTimeout, check.Fail, domain, url, "no connection within "+ProbeDeadline.String(),
			fmt.Sprintf("Port 80 at %s did not answer within %s: a firewall is probably dropping the traffic.", domain, ProbeDeadline),
			"Allow inbound TCP ports 80 and 443 to this VM in the cloud security group or firewall.")
	case errors.Is(err, context.Canceled):
		return probeResult(ProbeNotRun, check.Error, domain, url, "cancelled", fmt.Sprintf("The test of %s was cancelled.", domain), "Run it again.")
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return probeResult(ProbeUnreachable, check.Fail, domain, url, "no route to the address"+at(connected, err),
			fmt.Sprintf("This VM has no route to %s.", domain),
			"Check the VM's network and routing, or the firewall that rejects the traffic.")
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return probeResult(ProbeUnreachable, check.Fail, domain, url, "connection reset"+at(connected, err),
			fmt.Sprintf("The connection to port 80 at %s was cut before an answer arrived: a firewall or proxy dropped it.", domain),
			"Allow inbound TCP port 80 to this VM and check any proxy in front of it.")
	}
	return probeResult(ProbeNotRun, check.Error, domain, url, "request failed",
		fmt.Sprintf("Could not test %s: the request failed before any answer.", domain), "Run the test again; if it keeps failing, check this VM's network.")
}

// at names the address a failed connection went to, when known.
func at(connected string, err error) string {
	if connected != "" {
		return " at " + connected
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Addr != nil {
		return " at " + op.Addr.String()
	}
	return ""
}

func probeResult(kind ProbeKind, status check.Status, domain, url, measured, msg, hint string) ProbeResult {
	return ProbeResult{Kind: kind, Domain: domain, Result: check.Result{
		Step: Step, ID: IDServerProbe, Field: Field, Status: status,
		Measured: measured, Required: "GET " + url + " returns this wizard's nonce",
		Message: msg, Hint: hint,
	}}
}

// responseProxies names the proxies and CDNs whose response headers are
// present, in a fixed order, each once.
func responseProxies(h http.Header) []string {
	var names []string
	add := func(name string) {
		for _, n := range names {
			if n == name {
				return
			}
		}
		names = append(names, name)
	}
	server := strings.ToLower(h.Get("Server"))
	switch {
	case h.Get("CF-Ray") != "":
		add("Cloudflare (cf-ray)")
	case strings.Contains(server, "cloudflare"):
		add("Cloudflare (server: cloudflare)")
	}
	if h.Get("X-Amz-Cf-Id") != "" || h.Get("X-Amz-Cf-Pop") != "" {
		add("Amazon CloudFront (x-amz-cf-id)")
	}
	if h.Get("X-Fastly-Request-ID") != "" || strings.HasPrefix(h.Get("X-Served-By"), "cache-") {
		add("Fastly (x-served-by)")
	}
	if h.Get("X-Azure-Ref") != "" {
		add("Azure Front Door (x-azure-ref)")
	}
	if strings.Contains(server, "akamai") || h.Get("X-Akamai-Transformed") != "" {
		add("Akamai")
	}
	if v := h.Get("Via"); v != "" {
		add(fmt.Sprintf("a proxy (Via: %s)", truncate(v, 60)))
	}
	if h.Get("X-Varnish") != "" && h.Get("Via") == "" {
		add("Varnish (x-varnish)")
	}
	return names
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// BrowserResult reports whether the admin's browser fetched its nonce, from
// the hits NonceHandler recorded for it (Nonces.Hits). The page may fetch
// the URL with JavaScript or offer it as a link to open; either way the hit is
// the evidence, so the browser's own report need not be trusted. The result
// has ID IDBrowserProbe.
func BrowserResult(domain string, hits []Hit) check.Result {
	r := check.Result{
		Step: Step, ID: IDBrowserProbe, Field: Field,
		Required: "your browser reaches http://" + domain + NoncePath + "…",
	}
	if len(hits) == 0 {
		r.Status = check.Fail
		r.Measured = "no request arrived"
		r.Message = fmt.Sprintf("No request from your browser reached this VM at http://%s.", domain)
		r.Hint = "Open the test link. If it does not load, the domain does not lead here from your network (DNS, firewall or NAT)."
		return r
	}
	last := hits[len(hits)-1]
	r.Measured = "request from " + last.Remote
	if last.Proxy != "" {
		r.Status = check.Warn
		r.Measured += " through " + last.Proxy
		r.Message = fmt.Sprintf("Your browser reached this VM at http://%s, through %s.", domain, last.Proxy)
		r.Hint = "If you did not plan a proxy or CDN in front of CARTO, switch it off (for Cloudflare, set the record to DNS only)."
		return r
	}
	r.Status = check.Pass
	r.Message = fmt.Sprintf("Your browser reached this VM at http://%s.", domain)
	return r
}

// Combine joins the server's probe and the browser's into one verdict with
// ID IDReachable. browserOK is nil while the browser check has not run. The
// two vantage points tell apart failures a single one cannot: the browser
// getting through while the server does not means hairpin NAT or split DNS,
// not a closed port.
func Combine(server ProbeResult, browserOK *bool) check.Result {
	r := server.Result
	r.ID = IDReachable
	domain := server.Domain
	serverOK := server.Kind == ProbeOK || server.Kind == ProbeProxied

	switch {
	case browserOK == nil && serverOK:
		return r
	case browserOK == nil:
		r.Hint = strings.TrimSpace(r.Hint + " Open the test link in your browser as well: if it works there, CARTO's users can reach this VM.")
		return r
	case *browserOK && serverOK:
		return r
	case !*browserOK && serverOK:
		r.Status = check.Warn
		r.Message = fmt.Sprintf("This VM reaches itself at %s, but your browser could not: the domain does not lead here from your network.", domain)
		r.Hint = "Check the firewall in front of the VM and the DNS your network uses (split DNS or a VPN can give another answer)."
		return r
	case !*browserOK:
		r.Status = check.Fail
		r.Message = strings.TrimSuffix(r.Message, ".") + ", and your browser could not reach it either."
		return r
	}
	// The browser got through; the server did not.
	r.Status = check.Warn
	switch server.Kind {
	case ProbeNoDNS:
		r.Message = fmt.Sprintf("Your browser reaches this VM at %s, but this VM cannot resolve the name (split DNS).", domain)
		r.Hint = "CARTO's containers resolve the domain with this VM's DNS servers. Add the record to the DNS this VM uses, or CARTO calls to its own domain will fail."
	case ProbeRefused, ProbeTimeout, ProbeNoAnswer, ProbeUnreachable:
		r.Message = fmt.Sprintf("%s is reachable only from outside (hairpin NAT): your browser reached this VM, but the VM could not reach its own public address.", domain)
		r.Hint = "CARTO's users can reach it. The router or cloud NAT in front of the VM does not loop traffic back; CARTO calls to its own domain from inside the VM will fail. Enable NAT loopback (hairpinning) or resolve the domain to the VM's private address inside your network."
	case ProbeOther, ProbeOtherWizard:
		r.Message = fmt.Sprintf("Your browser reaches this VM at %s, but from this VM the domain leads to something else (%s).", domain, server.Measured)
		r.Hint = "This VM's DNS or an outbound proxy sends it elsewhere. Make the domain resolve to this VM from inside as well."
	default:
		r.Message = fmt.Sprintf("Your browser reaches this VM at %s; the test from this VM could not run.", domain)
		r.Hint = "Run the test again."
	}
	return r
}
