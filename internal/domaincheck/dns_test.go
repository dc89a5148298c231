package domaincheck

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// servfail as a zone entry makes the test DNS server answer SERVFAIL.
const servfail = "SERVFAIL"

// startDNS runs an authoritative DNS server on a loopback UDP port that
// answers A and AAAA queries from zone (name without trailing dot →
// addresses) and NXDOMAIN for every other name. It returns a resolver that
// asks only that server.
func startDNS(t *testing.T, zone map[string][]string) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("dns listen: %v", err)
	}
	started := make(chan struct{})
	srv := &dns.Server{
		PacketConn:        pc,
		NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(req)
			m.Authoritative = true
			q := req.Question[0]
			addrs, ok := zone[strings.TrimSuffix(strings.ToLower(q.Name), ".")]
			switch {
			case !ok:
				m.Rcode = dns.RcodeNameError
			case len(addrs) == 1 && addrs[0] == servfail:
				m.Rcode = dns.RcodeServerFailure
			}
			for _, a := range addrs {
				ip := net.ParseIP(a)
				hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: 60}
				switch {
				case ip == nil:
				case ip.To4() != nil && q.Qtype == dns.TypeA:
					hdr.Rrtype = dns.TypeA
					m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: ip.To4()})
				case ip.To4() == nil && q.Qtype == dns.TypeAAAA:
					hdr.Rrtype = dns.TypeAAAA
					m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: ip})
				}
			}
			w.WriteMsg(m)
		}),
	}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })

	addr := pc.LocalAddr().String()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", addr)
		},
	}
}
