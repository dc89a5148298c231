package proxycheck

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/localca"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// testProxy is a real HTTP CONNECT proxy on a loopback port. It resolves
// the egress hosts through names (so the test needs no DNS), refuses the
// hosts in refuse with 403, and, when inspect is set, answers the TLS
// handshake itself with a certificate of that CA, as a TLS-inspecting
// corporate proxy does.
type testProxy struct {
	url     string
	names   map[string]string // host -> 127.0.0.1:port
	refuse  map[string]bool
	inspect *localca.CA
}

func startProxy(t *testing.T, names map[string]string, refuse []string, inspect *localca.CA) *testProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &testProxy{url: "http://" + ln.Addr().String(), names: names, refuse: map[string]bool{}, inspect: inspect}
	for _, h := range refuse {
		p.refuse[h] = true
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { p.serve(t, c) })
		}
	})
	return p
}

func (p *testProxy) serve(t *testing.T, c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err != nil {
		return
	}
	host, port, _ := net.SplitHostPort(req.Host)
	switch {
	case req.Method != http.MethodConnect:
		io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
		return
	case p.refuse[host]:
		io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
		return
	}
	if p.inspect != nil {
		io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
		certPEM, keyPEM, err := p.inspect.Issue(localca.Leaf{Hosts: []string{host}})
		if err != nil {
			t.Error(err)
			return
		}
		cert, _ := tls.X509KeyPair(certPEM, keyPEM)
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		tc.Handshake()
		tc.Close()
		return
	}
	addr := p.names[host]
	if addr == "" {
		addr = net.JoinHostPort(host, port)
	}
	up, err := net.Dial("tcp", addr)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	defer up.Close()
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
}

// tlsServer serves TLS on a loopback port with a certificate of ca for
// hosts, and returns its address.
func tlsServer(t *testing.T, ca *localca.CA, hosts ...string) string {
	t.Helper()
	certPEM, keyPEM, err := ca.Issue(localca.Leaf{Hosts: hosts})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func newCA(t *testing.T, name string, notBefore, notAfter time.Time) *localca.CA {
	t.Helper()
	ca, err := localca.New(name, notBefore, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func byID(rs []check.Result) map[string]check.Result {
	out := map[string]check.Result{}
	for _, r := range rs {
		out[r.ID] = r
	}
	return out
}

func TestRun(t *testing.T) {
	t.Parallel()
	now := time.Now()
	public := newCA(t, "Public Test Root", now.Add(-time.Hour), now.Add(24*time.Hour))
	corporate := newCA(t, "Corporate Inspection CA", now.Add(-time.Hour), now.Add(24*time.Hour))
	other := newCA(t, "Unrelated CA", now.Add(-time.Hour), now.Add(24*time.Hour))
	roots := x509.NewCertPool()
	roots.AddCert(public.Cert)
	names := map[string]string{
		"auth.egress.test":    tlsServer(t, public, "auth.egress.test"),
		"storage.egress.test": tlsServer(t, public, "storage.egress.test"),
	}
	direct := tlsServer(t, public, "127.0.0.1")
	targets := []string{"auth.egress.test:443", "storage.egress.test:443"}
	forward := startProxy(t, names, nil, nil)
	refusing := startProxy(t, names, []string{"storage.egress.test"}, nil)
	inspecting := startProxy(t, names, nil, corporate)
	closed := "http://127.0.0.1:" + strconv.Itoa(testenv.ClosedPort(t))
	deps := Deps{Dial: (&net.Dialer{}).DialContext, RootCAs: roots, Now: time.Now}
	auth, storage := IDEgressPrefix+"auth.egress.test", IDEgressPrefix+"storage.egress.test"

	tests := []struct {
		name string
		cfg  Config
		want map[string]string // ID -> status, or "measured~text"
		none []string          // IDs that must not be reported
	}{
		{"nothing set", Config{Targets: targets}, map[string]string{}, []string{IDCABundle, IDProxyConnect, auth}},
		{"through a forwarding proxy", Config{HTTPSProxy: forward.url, Targets: targets},
			map[string]string{IDProxyConnect: "pass", auth: "pass", storage: "pass"}, []string{IDCABundle, IDCAHandshake}},
		{"proxy not listening", Config{HTTPSProxy: closed, Targets: targets},
			map[string]string{IDProxyConnect: "fail"}, []string{auth, storage}},
		{"proxy refuses one host", Config{HTTPSProxy: refusing.url, Targets: targets},
			map[string]string{IDProxyConnect: "pass", auth: "pass", storage: "fail~CONNECT: 403 Forbidden"}, nil},
		{"inspecting proxy without its CA", Config{HTTPSProxy: inspecting.url, Targets: targets},
			map[string]string{auth: "fail~TLS: certificate not trusted", storage: "fail"}, nil},
		{"inspecting proxy with its CA", Config{HTTPSProxy: inspecting.url, Targets: targets, CABundlePEM: corporate.PEM},
			map[string]string{IDCABundle: "pass", auth: "pass", storage: "pass", IDCAHandshake: "pass~trusted with the bundle"}, nil},
		{"inspecting proxy with another CA", Config{HTTPSProxy: inspecting.url, Targets: targets, CABundlePEM: other.PEM},
			map[string]string{IDCABundle: "pass", auth: "fail", IDCAHandshake: "fail~not trusted with the bundle"}, nil},
		{"forwarding proxy with a bundle it does not need", Config{HTTPSProxy: forward.url, Targets: targets, CABundlePEM: corporate.PEM},
			map[string]string{auth: "pass", IDCAHandshake: "pass~trusted without the bundle"}, nil},
		{"NO_PROXY sends a host direct", Config{HTTPSProxy: refusing.url, NoProxy: "localhost,127.0.0.0/8", Targets: []string{direct, "storage.egress.test:443"}},
			map[string]string{IDEgressPrefix + "127.0.0.1": "pass~TLS verified directly (NO_PROXY)", storage: "fail"}, nil},
		{"plain HTTP target through the HTTP proxy", Config{HTTPProxy: forward.url, Targets: []string{"http://" + names["auth.egress.test"]}},
			map[string]string{IDEgressPrefix + "127.0.0.1": "pass~connected through"}, nil},
		{"bundle alone", Config{CABundlePEM: corporate.PEM, Targets: targets}, map[string]string{IDCABundle: "pass"}, []string{IDProxyConnect, auth, IDCAHandshake}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.cfg.Timeout = 3 * time.Second
			got := byID(Run(context.Background(), deps, tc.cfg))
			for id, want := range tc.want {
				status, measured, _ := strings.Cut(want, "~")
				r, ok := got[id]
				if !ok || string(r.Status) != status || !strings.Contains(r.Measured, measured) {
					t.Errorf("%s = %s %q, want %s %q", id, r.Status, r.Measured, status, measured)
				}
				if r.Step != Step || r.Message == "" {
					t.Errorf("%s has step %q, message %q", id, r.Step, r.Message)
				}
			}
			for _, id := range tc.none {
				if r, ok := got[id]; ok {
					t.Errorf("%s reported: %+v", id, r)
				}
			}
		})
	}
}

// TestBundle: a bundle must be PEM, CA certificates only, each valid now.
func TestBundle(t *testing.T) {
	t.Parallel()
	now := time.Now()
	good := newCA(t, "Good CA", now.Add(-time.Hour), now.Add(time.Hour))
	expired := newCA(t, "Old CA", now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	future := newCA(t, "Future CA", now.Add(24*time.Hour), now.Add(48*time.Hour))
	leaf, leafKey, err := good.Issue(localca.Leaf{Hosts: []string{"leaf.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, pem, status, measured string
	}{
		{"one CA", string(good.PEM), "pass", "1 CA certificate(s)"},
		{"two CAs", string(good.PEM) + string(good.PEM), "pass", "2 CA certificate(s)"},
		{"expired", string(good.PEM) + string(expired.PEM), "fail", "expired: Old CA"},
		{"not yet valid", string(future.PEM), "fail", "not yet valid: Future CA"},
		{"a leaf", string(leaf), "fail", "not a CA"},
		{"a private key", string(good.PEM) + string(leafKey), "fail", "PRIVATE KEY block"},
		{"not PEM", "hello", "fail", "not PEM"},
	} {
		_, r := readBundle([]byte(tc.pem), now)
		if string(r.Status) != tc.status || !strings.Contains(r.Measured, tc.measured) || r.Field != FieldCABundle {
			t.Errorf("%s: %s %q on %q, want %s %q", tc.name, r.Status, r.Measured, r.Field, tc.status, tc.measured)
		}
	}
}

func TestBypass(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		list, hostport string
		want           bool
	}{
		{"", "auth.carto.com:443", false},
		{"*", "auth.carto.com:443", true},
		{"carto.com", "auth.carto.com:443", true},
		{".carto.com", "auth.carto.com:443", true},
		{"*.carto.com", "auth.carto.com:443", true},
		{"carto.com", "notcarto.com:443", false},
		{"auth.carto.com:80", "auth.carto.com:443", false},
		{"auth.carto.com:443", "auth.carto.com:443", true},
		{"10.0.0.0/8", "10.1.2.3:443", true},
		{"10.0.0.0/8", "11.1.2.3:443", false},
		{"localhost, 127.0.0.1", "127.0.0.1:9000", true},
	} {
		if got := bypass(tc.list, tc.hostport); got != tc.want {
			t.Errorf("bypass(%q, %q) = %v, want %v", tc.list, tc.hostport, got, tc.want)
		}
	}
}
