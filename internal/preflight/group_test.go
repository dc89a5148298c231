package preflight

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// resolverFor runs a DNS server on a loopback port that answers every A
// query with addr, or with rcode when addr is "", and returns a dialer
// whose lookups go only there: the VM's resolver, without the internet.
func resolverFor(t *testing.T, addr string, rcode int) func(context.Context, string, string) (net.Conn, error) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(req)
			q := req.Question[0]
			switch {
			case addr == "":
				m.Rcode = rcode
			case q.Qtype == dns.TypeA:
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(addr).To4()})
			}
			w.WriteMsg(m)
		})}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	d := &net.Dialer{Resolver: &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", pc.LocalAddr().String())
	}}}
	return d.DialContext
}

func byIDs(rs []check.Result) map[string]check.Result {
	m := map[string]check.Result{}
	for _, r := range rs {
		m[r.ID] = r
	}
	return m
}

// TestEgressGroupedOnAnOfflineVM probes CARTO's real egress list through a
// resolver that answers SERVFAIL (a VM without working DNS) and through
// one that resolves every name to loopback where nothing listens (no
// egress): each is one grouped result naming every host, which one override
// reason covers, and in demo mode the one offline-demo warning.
func TestEgressGroupedOnAnOfflineVM(t *testing.T) {
	t.Parallel()
	closed := strconv.Itoa(testenv.ClosedPort(t))
	var closedTargets []string
	for _, tg := range EgressTargets(Config{}) {
		host, _, _ := net.SplitHostPort(tg)
		closedTargets = append(closedTargets, net.JoinHostPort(host, closed))
	}
	hosts := len(EgressTargets(Config{}))
	tests := []struct {
		name    string
		dial    func(context.Context, string, string) (net.Conn, error)
		targets []string
		id      string
		measure string
	}{
		{"no DNS", resolverFor(t, "", dns.RcodeServerFailure), nil, IDEgressDNS, "DNS: lookup failed, for "},
		{"names unknown", resolverFor(t, "", dns.RcodeNameError), nil, IDEgressDNS, "DNS: does not resolve, for "},
		{"no egress", resolverFor(t, "127.0.0.1", 0), closedTargets, IDEgressConnect, "connect: refused, for "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{EgressTargets: tt.targets, EgressTimeout: 2 * time.Second}
			rs := groupEgress(checkEgress(context.Background(), Deps{Dial: tt.dial}, cfg), cfg)
			if len(rs) != 1 {
				t.Fatalf("%d results, want one: %v", len(rs), byIDs(rs))
			}
			r := rs[0]
			if r.ID != tt.id || r.Status != check.Fail || r.Fixed || !strings.HasPrefix(r.Measured, tt.measure) {
				t.Fatalf("grouped result %s %s fixed=%v %q", r.ID, r.Status, r.Fixed, r.Measured)
			}
			if !strings.Contains(r.Measured, strconv.Itoa(hosts)+" of "+strconv.Itoa(hosts)+" hosts: auth.carto.com, storage.googleapis.com,") {
				t.Errorf("measured %q does not name every host", r.Measured)
			}
			r.Step = Step
			assertComplete(t, r)

			// The same machine in demo mode.
			cfg.Demo = true
			rs = groupEgress(checkEgress(context.Background(), Deps{Dial: tt.dial}, cfg), cfg)
			if len(rs) != 1 || rs[0].ID != IDOfflineDemo || rs[0].Status != check.Warn {
				t.Fatalf("demo: %v, want one offline-demo warning", byIDs(rs))
			}
			if !strings.HasPrefix(rs[0].Measured, "0 of "+strconv.Itoa(hosts)+" hosts reachable") || !strings.Contains(rs[0].Hint, "auth.carto.com") {
				t.Errorf("offline demo: %q / %q", rs[0].Measured, rs[0].Hint)
			}
			assertComplete(t, rs[0])
		})
	}
}

// TestEgressGroupsOnlyOneCause mixes causes: a reachable host keeps its
// pass, two names that do not resolve become one DNS group, a single
// refused connection keeps its per-host ID (automation written against it
// still matches), and in demo mode nothing is called offline because one
// host answered.
func TestEgressGroupsOnlyOneCause(t *testing.T) {
	t.Parallel()
	good, pool := tlsServer(t, "auth.carto.com")
	_, goodPort, _ := net.SplitHostPort(good)
	closed := strconv.Itoa(testenv.ClosedPort(t))
	names := resolverFor(t, "", dns.RcodeNameError)
	loop := resolverFor(t, "127.0.0.1", 0)
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if strings.HasPrefix(addr, "unknown") {
			return names(ctx, network, addr)
		}
		return loop(ctx, network, addr)
	}
	targets := []string{"auth.carto.com:" + goodPort, "unknown-a.example:443", "gcr.io:" + closed, "unknown-b.example:443"}
	for _, demo := range []bool{false, true} {
		cfg := Config{EgressTargets: targets, EgressTimeout: 2 * time.Second, Demo: demo}
		rs := groupEgress(checkEgress(context.Background(), Deps{Dial: dial, RootCAs: pool}, cfg), cfg)
		var ids []string
		for _, r := range rs {
			ids = append(ids, r.ID+"="+string(r.Status))
		}
		want := "preflight.egress.auth.carto.com=pass preflight.egress.dns=fail preflight.egress.gcr.io=fail"
		if got := strings.Join(ids, " "); got != want {
			t.Fatalf("demo=%v: %s, want %s", demo, got, want)
		}
		if m := byIDs(rs)[IDEgressDNS].Measured; m != "DNS: does not resolve, for 2 of 4 hosts: unknown-a.example, unknown-b.example" {
			t.Errorf("group measured %q", m)
		}
	}
}

func TestDemoSizing(t *testing.T) {
	t.Parallel()
	deps := Deps{NumCPU: 2, ReadFile: files{"/proc/meminfo": "MemTotal: 8000000 kB\n"}.read}
	for _, demo := range []bool{false, true} {
		want := check.Fail
		if demo {
			want = check.Warn
		}
		for _, r := range []check.Result{checkCPU(deps), checkMemory(deps)} {
			if demo {
				r = demoSized(r)
			}
			if r.Status != want || (demo && !strings.Contains(r.Message, "a real install needs")) {
				t.Errorf("demo=%v: %s %s %q, want %s", demo, r.ID, r.Status, r.Message, want)
			}
		}
	}
	if r := demoSized(checkArch(Deps{GOARCH: "arm64"})); r.Status != check.Fail {
		t.Errorf("demo mode softened %s", r.ID)
	}
}
