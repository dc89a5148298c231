package domaincheck

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// testDialer resolves through the test DNS server and, for addresses whose
// port 80 could not be bound in this environment, dials the listener's real
// port instead, so the probe still asks for port 80.
type testDialer struct {
	resolver *net.Resolver
	port80   map[string]string // IP → port that stands in for 80
	block    bool              // hang until the context ends, like a dropping firewall
}

func (d *testDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if d.block {
		<-ctx.Done()
		return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	addrs, err := d.resolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	ip := addrs[0].IP.String()
	if p, ok := d.port80[ip]; ok && port == "80" {
		port = p
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, net.JoinHostPort(ip, port))
}

// listen80 listens on ip:80, or on a free port of ip when 80 is taken, and
// records the stand-in port in port80.
func listen80(t *testing.T, ip string, port80 map[string]string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "80"))
	if err != nil {
		ln, err = net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatalf("listen on %s: %v", ip, err)
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		port80[ip] = port
		t.Logf("port 80 on %s is not available; port %s stands in for it", ip, port)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// serve80 serves h on ip's port 80 (or its stand-in).
func serve80(t *testing.T, ip string, port80 map[string]string, h http.Handler) {
	t.Helper()
	ln := listen80(t, ip, port80)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// closed80 makes sure nothing listens on ip's port 80 (or its stand-in).
func closed80(t *testing.T, ip string, port80 map[string]string) {
	t.Helper()
	ln := listen80(t, ip, port80)
	ln.Close()
}

func TestProbe(t *testing.T) {
	resolver := startDNS(t, map[string][]string{
		"ok.carto.test":       {"127.77.1.2"},
		"proxied.carto.test":  {"127.77.1.3"},
		"other.carto.test":    {"127.77.1.4"},
		"cdn.carto.test":      {"127.77.1.5"},
		"closed.carto.test":   {"127.77.1.6"},
		"silent.carto.test":   {"127.77.1.7"},
		"reset.carto.test":    {"127.77.1.8"},
		"redirect.carto.test": {"127.77.1.9"},
		"wizard.carto.test":   {"127.77.1.10"},
		"firewall.carto.test": {"127.77.1.11"},
	})
	port80 := map[string]string{}
	nonces := NewNonces(time.Now, time.Minute)

	// This wizard's port 80.
	serve80(t, "127.77.1.2", port80, NonceHandler(nonces, nil))
	// This wizard behind a proxy that adds Via.
	serve80(t, "127.77.1.3", port80, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Via", "1.1 varnish")
		NonceHandler(nonces, nil).ServeHTTP(w, r)
	}))
	// Some other web server.
	serve80(t, "127.77.1.4", port80, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "nginx/1.24.0")
		fmt.Fprint(w, "<html>Welcome to nginx!</html>")
	}))
	// A CDN answering on its own.
	serve80(t, "127.77.1.5", port80, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "cloudflare")
		w.Header().Set("CF-Ray", "8c0ffee0c0ffee00-AMS")
		w.Header().Set("Via", "1.1 varnish")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, "error code: 502")
	}))
	closed80(t, "127.77.1.6", port80)
	// Accepts connections and never answers.
	silent := listen80(t, "127.77.1.7", port80)
	held := make(chan net.Conn, 16)
	t.Cleanup(func() {
		silent.Close()
		for len(held) > 0 {
			(<-held).Close()
		}
	})
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			select {
			case held <- c:
			default:
				c.Close()
			}
		}
	}()
	// Accepts connections and closes them at once.
	reset := listen80(t, "127.77.1.8", port80)
	go func() {
		for {
			c, err := reset.Accept()
			if err != nil {
				return
			}
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0) // send RST
			}
			c.Close()
		}
	}()
	serve80(t, "127.77.1.9", port80, http.RedirectHandler("https://redirect.carto.test/", http.StatusMovedPermanently))
	// Another machine running the wizard, with its own nonces.
	serve80(t, "127.77.1.10", port80, NonceHandler(NewNonces(time.Now, time.Minute), nil))

	tests := []struct {
		name     string
		domain   string
		block    bool
		timeout  time.Duration
		kind     ProbeKind
		status   check.Status
		contains []string // phrases of Message + Hint + Measured
	}{
		{name: "correct nonce", domain: "ok.carto.test", kind: ProbeOK, status: check.Pass,
			contains: []string{"answers with this wizard's nonce", "HTTP 200 from 127.77.1.2:"}},
		{name: "nonce through a proxy", domain: "proxied.carto.test", kind: ProbeProxied, status: check.Warn,
			contains: []string{"through a proxy (Via: 1.1 varnish)"}},
		{name: "something else answers", domain: "other.carto.test", kind: ProbeOther, status: check.Fail,
			contains: []string{"Something else answers at http://other.carto.test", "Server: nginx/1.24.0"}},
		{name: "CDN answers", domain: "cdn.carto.test", kind: ProbeOther, status: check.Fail,
			contains: []string{"went to Cloudflare (cf-ray) and a proxy (Via: 1.1 varnish), which did not pass it", "HTTP 502", "DNS only"}},
		{name: "port closed", domain: "closed.carto.test", kind: ProbeRefused, status: check.Fail,
			contains: []string{"Port 80 is closed at closed.carto.test", "connection refused at 127.77.1.6:"}},
		{name: "connected, no answer", domain: "silent.carto.test", timeout: 300 * time.Millisecond, kind: ProbeNoAnswer, status: check.Fail,
			contains: []string{"accepted the connection but sent no answer"}},
		{name: "connection reset", domain: "reset.carto.test", kind: ProbeUnreachable, status: check.Fail,
			contains: []string{"was cut before an answer arrived"}},
		{name: "redirect is not followed", domain: "redirect.carto.test", kind: ProbeOther, status: check.Fail,
			contains: []string{"HTTP 301"}},
		{name: "another wizard", domain: "wizard.carto.test", kind: ProbeOtherWizard, status: check.Fail,
			contains: []string{"a carto-setup wizard that does not know this test"}},
		{name: "does not resolve", domain: "missing.carto.test", kind: ProbeNoDNS, status: check.Fail,
			contains: []string{"This VM cannot resolve missing.carto.test"}},
		{name: "firewall drops", domain: "firewall.carto.test", block: true, timeout: 300 * time.Millisecond, kind: ProbeTimeout, status: check.Fail,
			contains: []string{"a firewall is probably dropping the traffic"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			client := NewProbeClient(&testDialer{resolver: resolver, port80: port80, block: tt.block})
			got := Probe(ctx, client, tt.domain, nonces.New())
			if got.Kind != tt.kind || got.Status != tt.status {
				t.Errorf("Probe = %s/%s, want %s/%s (%s; %s)", got.Kind, got.Status, tt.kind, tt.status, got.Message, got.Measured)
			}
			if got.ID != IDServerProbe || got.Step != Step || got.Domain != tt.domain {
				t.Errorf("ID %q, step %q, domain %q", got.ID, got.Step, got.Domain)
			}
			text := got.Message + " " + got.Hint + " " + got.Measured
			for _, c := range tt.contains {
				if !strings.Contains(text, c) {
					t.Errorf("result does not contain %q: %s", c, text)
				}
			}
			if got.Status != check.Pass && got.Hint == "" {
				t.Errorf("%s without a hint", got.Status)
			}
		})
	}

	t.Run("net.Dialer", func(t *testing.T) {
		if _, mapped := port80["127.77.1.2"]; mapped {
			testenv.Missing(t, "port 80 on 127.77.1.2", "run the tests as root or with CAP_NET_BIND_SERVICE so a plain net.Dialer can reach the listener")
		}
		client := NewProbeClient(&net.Dialer{Resolver: resolver})
		got := Probe(context.Background(), client, "ok.carto.test", nonces.New())
		if got.Kind != ProbeOK {
			t.Errorf("Probe = %s (%s)", got.Kind, got.Message)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		client := NewProbeClient(&testDialer{resolver: resolver, port80: port80})
		got := Probe(ctx, client, "ok.carto.test", nonces.New())
		if got.Kind != ProbeNotRun || got.Status != check.Error {
			t.Errorf("Probe = %s/%s, want %s/%s", got.Kind, got.Status, ProbeNotRun, check.Error)
		}
	})
}

func TestResponseProxies(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		want   string
	}{
		{"none", http.Header{"Server": {"nginx"}}, ""},
		{"cf-ray", http.Header{"Cf-Ray": {"x"}, "Server": {"cloudflare"}}, "Cloudflare (cf-ray)"},
		{"server cloudflare", http.Header{"Server": {"cloudflare"}}, "Cloudflare (server: cloudflare)"},
		{"cloudfront", http.Header{"X-Amz-Cf-Id": {"x"}, "Via": {"1.1 abc.cloudfront.net (CloudFront)"}}, "Amazon CloudFront (x-amz-cf-id) and a proxy (Via: 1.1 abc.cloudfront.net (CloudFront))"},
		{"fastly", http.Header{"X-Served-By": {"cache-ams21000-AMS"}}, "Fastly (x-served-by)"},
		{"azure", http.Header{"X-Azure-Ref": {"x"}}, "Azure Front Door (x-azure-ref)"},
		{"akamai", http.Header{"Server": {"AkamaiGHost"}}, "Akamai"},
		{"varnish", http.Header{"X-Varnish": {"123"}}, "Varnish (x-varnish)"},
		{"via", http.Header{"Via": {"1.1 google"}}, "a proxy (Via: 1.1 google)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := joinAnd(responseProxies(tt.header)); got != tt.want {
				t.Errorf("responseProxies = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBrowserResult(t *testing.T) {
	tests := []struct {
		name   string
		hits   []Hit
		status check.Status
		phrase string
	}{
		{"no request", nil, check.Fail, "No request from your browser reached this VM"},
		{"direct", []Hit{{Remote: "198.51.100.1:5555"}}, check.Pass, "Your browser reached this VM at http://carto.example.com."},
		{"through Cloudflare", []Hit{{Remote: "172.68.0.1:5555", Proxy: "Cloudflare (CF-Connecting-IP)"}}, check.Warn, "through Cloudflare (CF-Connecting-IP)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := BrowserResult("carto.example.com", tt.hits)
			if r.Status != tt.status || r.ID != IDBrowserProbe || !strings.Contains(r.Message, tt.phrase) {
				t.Errorf("BrowserResult = %s %s %q", r.ID, r.Status, r.Message)
			}
		})
	}
}

func TestCombine(t *testing.T) {
	server := func(kind ProbeKind, status check.Status) ProbeResult {
		return probeResult(kind, status, "carto.example.com", "http://carto.example.com"+NoncePath+"x", "measured", "Server says "+string(kind)+".", "hint")
	}
	yes, no := true, false
	tests := []struct {
		name    string
		server  ProbeResult
		browser *bool
		status  check.Status
		phrase  string
	}{
		{"both reach", server(ProbeOK, check.Pass), &yes, check.Pass, "Server says ok."},
		{"server only, browser not run", server(ProbeOK, check.Pass), nil, check.Pass, "Server says ok."},
		{"proxied, browser ok", server(ProbeProxied, check.Warn), &yes, check.Warn, "Server says proxied."},
		{"server ok, browser fails", server(ProbeOK, check.Pass), &no, check.Warn, "but your browser could not"},
		{"hairpin: refused", server(ProbeRefused, check.Fail), &yes, check.Warn, "reachable only from outside (hairpin NAT)"},
		{"hairpin: timeout", server(ProbeTimeout, check.Fail), &yes, check.Warn, "reachable only from outside (hairpin NAT)"},
		{"hairpin: reset", server(ProbeUnreachable, check.Fail), &yes, check.Warn, "reachable only from outside (hairpin NAT)"},
		{"split DNS", server(ProbeNoDNS, check.Fail), &yes, check.Warn, "this VM cannot resolve the name (split DNS)"},
		{"server sees something else", server(ProbeOther, check.Fail), &yes, check.Warn, "from this VM the domain leads to something else"},
		{"server could not run", server(ProbeNotRun, check.Error), &yes, check.Warn, "the test from this VM could not run"},
		{"both fail", server(ProbeRefused, check.Fail), &no, check.Fail, "Server says refused, and your browser could not reach it either."},
		{"server fails, browser not run", server(ProbeTimeout, check.Fail), nil, check.Fail, "Server says timeout."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Combine(tt.server, tt.browser)
			if r.ID != IDReachable || r.Status != tt.status || !strings.Contains(r.Message, tt.phrase) {
				t.Errorf("Combine = %s %s %q, want %s containing %q", r.ID, r.Status, r.Message, tt.status, tt.phrase)
			}
			if r.Status != check.Pass && r.Hint == "" {
				t.Errorf("%s without a hint", r.Status)
			}
		})
	}
}

// TestHairpinEndToEnd runs both vantage points against real listeners: the
// browser's request reaches the wizard's port 80 (it is recorded as a hit)
// while this VM's own probe is refused, as behind a NAT without loopback.
func TestHairpinEndToEnd(t *testing.T) {
	resolver := startDNS(t, map[string][]string{"hairpin.carto.test": {"127.77.2.2"}})
	port80 := map[string]string{}
	closed80(t, "127.77.2.2", port80) // from inside, the public address refuses

	nonces := NewNonces(time.Now, time.Minute)
	browserNonce := nonces.New()
	// The wizard's real listener, which the browser reaches from outside.
	wizard := map[string]string{}
	serve80(t, "127.77.2.3", wizard, NonceHandler(nonces, nil))
	url := "http://127.77.2.3:" + portOr80(wizard, "127.77.2.3") + NoncePath + browserNonce
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("browser GET: %v", err)
	}
	resp.Body.Close()

	client := NewProbeClient(&testDialer{resolver: resolver, port80: port80})
	server := Probe(context.Background(), client, "hairpin.carto.test", nonces.New())
	if server.Kind != ProbeRefused {
		t.Fatalf("server probe = %s (%s)", server.Kind, server.Message)
	}
	hits := nonces.Hits(browserNonce)
	browser := BrowserResult("hairpin.carto.test", hits)
	if browser.Status != check.Pass {
		t.Fatalf("browser result = %s (%s)", browser.Status, browser.Message)
	}
	ok := len(hits) > 0
	r := Combine(server, &ok)
	if r.Status != check.Warn || !strings.Contains(r.Message, "hairpin.carto.test is reachable only from outside (hairpin NAT)") {
		t.Errorf("Combine = %s %q", r.Status, r.Message)
	}
}

func portOr80(port80 map[string]string, ip string) string {
	if p, ok := port80[ip]; ok {
		return p
	}
	return "80"
}
