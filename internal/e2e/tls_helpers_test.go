package e2e

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"

	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/testenv"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// tlsDomain is the domain the TLS tests configure; the test's DNS server
// resolves it to 127.0.0.1.
const tlsDomain = "carto.tls.e2e.test"

// tlsWalk configures walkToTLSStep; nil means a DNS server of its own and
// no extra flags.
type tlsWalk struct {
	resolver string   // the DNS server for --resolver
	args     []string // more flags for carto-setup
}

// tlsWalker is a wizard walked to the TLS step in a browser.
type tlsWalker struct {
	app *App
	ctx context.Context
}

// walkToTLSStep starts carto-setup and walks the browser to the TLS step
// on the lightest settings: the sample package, the domain resolved by the
// test's DNS server (the reachability failures get a reason), and the
// embedded database and cache (a warning only). Docker is needed only
// because preflight does not let an admin continue without it.
func walkToTLSStep(t *testing.T, o *tlsWalk) *tlsWalker {
	t.Helper()
	NeedDocker(t)
	if o == nil {
		o = &tlsWalk{}
	}
	if o.resolver == "" {
		o.resolver = startTLSDNS(t, tlsDomain)
	}
	args := append([]string{"--resolver", o.resolver}, o.args...)
	if !containsFlag(args, "--http-addr") {
		args = append(args, "--http-addr", "127.0.0.1:0")
	}
	pkgDir := t.TempDir()
	key, err := release.SampleKeyJSON()
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"customer.env": release.SampleCustomerEnv("carto3-onprem.lan"), "key.json": key} {
		if err := os.WriteFile(filepath.Join(pkgDir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a := StartApp(t, Options{Args: args})
	ctx := Browser(t, true)
	Navigate(t, ctx, a.SignInURL)
	PassPreflight(t, ctx, a)

	Upload(t, ctx, "customer_env", filepath.Join(pkgDir, "customer.env"))
	Upload(t, ctx, "key_json", filepath.Join(pkgDir, "key.json"))
	Submit(t, ctx, `button[value="upload"]`)
	Submit(t, ctx, `button[value="next"]`)
	tlsWantStep(t, ctx, "domain")

	Fill(t, ctx, "domain", tlsDomain)
	Submit(t, ctx, `button[value="check"]`)
	if tlsCheckStatuses(t, ctx)["domain.resolves"] != "pass" {
		t.Fatalf("%s did not resolve through the test's DNS server: %s", tlsDomain, pageText(ctx))
	}
	FillOverrides(t, ctx, "e2e: no public DNS here")
	Submit(t, ctx, `button[value="next"]`)
	tlsWantStep(t, ctx, "database")

	Choose(t, ctx, "db_mode", "embedded")
	Choose(t, ctx, "cache_mode", "embedded")
	Submit(t, ctx, `button[value="next"]`)
	tlsWantStep(t, ctx, "tls")
	return &tlsWalker{app: a, ctx: ctx}
}

// state reads the wizard's saved state, as the program wrote it.
func (w *tlsWalker) state(t *testing.T) wizard.State {
	t.Helper()
	st, err := wizard.NewFileStore(filepath.Join(w.app.StateDir, "state.json"), time.Now).Load()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func containsFlag(args []string, flag string) bool {
	for _, a := range args {
		if a == flag || strings.HasPrefix(a, flag+"=") {
			return true
		}
	}
	return false
}

func tlsFreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startTLSDNS answers A queries for name with 127.0.0.1 and NXDOMAIN for
// other names, on one loopback port over UDP (Go's resolver, for the
// wizard's --resolver) and TCP (Pebble's validation authority).
func startTLSDNS(t *testing.T, name string) string {
	t.Helper()
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if len(q.Question) == 1 && strings.EqualFold(q.Question[0].Name, dns.Fqdn(name)) {
			if q.Question[0].Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, 0, 1)})
			}
		} else {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close() // the same TCP port is taken: try another
			continue
		}
		udp := &dns.Server{PacketConn: pc, Handler: handler}
		tcp := &dns.Server{Listener: ln, Handler: handler}
		go func() { _ = udp.ActivateAndServe() }()
		go func() { _ = tcp.ActivateAndServe() }()
		t.Cleanup(func() { _ = udp.Shutdown(); _ = tcp.Shutdown() })
		return pc.LocalAddr().String()
	}
	t.Fatal("no loopback port free for both UDP and TCP")
	return ""
}

// e2ePebble is Pebble run in-process: its directory on an HTTPS test
// server, the PEM file of that server's certificate (for --acme-ca-file) and
// the root it issues from.
type e2ePebble struct {
	directoryURL string
	caFile       string
	roots        *x509.CertPool
	newOrders    atomic.Int32
}

func (p *e2ePebble) orders() int { return int(p.newOrders.Load()) }

// startE2EPebble runs Pebble with its validation authority fetching HTTP-01
// challenges from httpPort on the address resolver gives for the domain.
func startE2EPebble(t *testing.T, httpPort int, resolver string) *e2ePebble {
	t.Helper()
	// Validate at once and never reject nonces at random: fast and
	// deterministic.
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	t.Setenv("PEBBLE_AUTHZREUSE", "0")
	logs := &testenv.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pebble log:\n%s", logs)
		}
	})
	logger := log.New(logs, "pebble ", log.Lmicroseconds)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(logger, httpPort, 0, false, resolver, store)
	frontEnd := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	p := &e2ePebble{}
	h := frontEnd.Handler()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/order-plz" {
			p.newOrders.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.directoryURL = srv.URL + wfe.DirectoryPath
	p.caFile = filepath.Join(t.TempDir(), "pebble-tls-ca.pem")
	if err := os.WriteFile(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	p.roots = x509.NewCertPool()
	p.roots.AddCert(authority.GetRootCert(0).Cert)
	return p
}

// tlsWantStep fails the test unless the browser shows /steps/step.
func tlsWantStep(t *testing.T, ctx context.Context, step string) {
	t.Helper()
	if loc := Location(t, ctx); !strings.HasSuffix(loc, "/steps/"+step) {
		t.Fatalf("expected the %s step, at %s: %s", step, loc, pageText(ctx))
	}
}

// tlsCheckStatuses returns check ID -> status from the page's results
// table.
func tlsCheckStatuses(t *testing.T, ctx context.Context) map[string]string {
	t.Helper()
	return Get(t, ctx, "read check results", chromedp.Evaluate[map[string]string](
		`Object.fromEntries(Array.from(document.querySelectorAll("#check-results tr[data-check]")).map(function(r){ return [r.dataset.check, r.dataset.status] }))`))
}

// tlsNoSecret fails the test if secret appears anywhere in the current
// document's markup, attribute values included.
func tlsNoSecret(t *testing.T, ctx context.Context, secret string) {
	t.Helper()
	html := Get(t, ctx, "read the page", chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if strings.Contains(html, secret) {
		t.Fatalf("a private key is in the page at %s", Location(t, ctx))
	}
}
