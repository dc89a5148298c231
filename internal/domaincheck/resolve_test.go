package domaincheck

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/carto-setup/carto-setup/internal/check"
)

func ips(s ...string) []net.IP {
	var out []net.IP
	for _, a := range s {
		out = append(out, net.ParseIP(a))
	}
	return out
}

// outcome is the part of a result the Resolve table compares exactly; the
// message is checked for key phrases only.
type outcome struct {
	ID       string
	Status   check.Status
	Measured string
}

func TestResolve(t *testing.T) {
	// Documentation addresses stand for public ones: Resolve never connects.
	resolver := startDNS(t, map[string][]string{
		"here.carto.test":      {"203.0.113.10"},
		"dual.carto.test":      {"203.0.113.10", "2001:db8::10"},
		"elsewhere.carto.test": {"198.51.100.7"},
		"split.carto.test":     {"203.0.113.10", "198.51.100.7"},
		"aaaa.carto.test":      {"2001:db8::10"},
		"private.carto.test":   {"10.0.0.5"},
		"loopback.carto.test":  {"127.0.0.1"},
		"empty.carto.test":     {},
		"broken.carto.test":    {servfail},
	})
	public := ips("203.0.113.10", "2001:db8::10")
	behindNAT := ips("10.0.0.4")

	tests := []struct {
		name     string
		domain   string
		local    []net.IP
		want     []outcome
		contains []string // phrases the messages must contain, in any result
	}{
		{
			name: "resolves here", domain: "here.carto.test", local: public,
			want: []outcome{
				{IDResolves, check.Pass, "A 203.0.113.10"},
				{IDPointsHere, check.Pass, "203.0.113.10"},
			},
			contains: []string{"here.carto.test resolves to this VM (203.0.113.10)"},
		},
		{
			name: "A and AAAA here", domain: "dual.carto.test", local: public,
			want: []outcome{
				{IDResolves, check.Pass, "A 203.0.113.10; AAAA 2001:db8::10"},
				{IDPointsHere, check.Pass, "203.0.113.10 and 2001:db8::10"},
			},
		},
		{
			name: "resolves elsewhere, VM has a public address", domain: "elsewhere.carto.test", local: public,
			want: []outcome{
				{IDResolves, check.Pass, "A 198.51.100.7"},
				{IDPointsHere, check.Fail, "198.51.100.7"},
			},
			contains: []string{"resolves elsewhere: to 198.51.100.7, but this VM's addresses are 203.0.113.10 and 2001:db8::10"},
		},
		{
			name: "resolves elsewhere, VM behind NAT", domain: "elsewhere.carto.test", local: behindNAT,
			want: []outcome{
				{IDResolves, check.Pass, "A 198.51.100.7"},
				{IDPointsHere, check.Warn, "198.51.100.7"},
			},
			contains: []string{"resolves elsewhere", "probably behind NAT"},
		},
		{
			name: "resolves here and elsewhere", domain: "split.carto.test", local: public,
			want: []outcome{
				{IDResolves, check.Pass, "A 198.51.100.7, 203.0.113.10"},
				{IDPointsHere, check.Warn, "198.51.100.7 and 203.0.113.10"},
			},
			contains: []string{"but also to 198.51.100.7"},
		},
		{
			name: "AAAA only", domain: "aaaa.carto.test", local: public,
			want: []outcome{
				{IDResolves, check.Pass, "AAAA 2001:db8::10"},
				{IDPointsHere, check.Pass, "2001:db8::10"},
				{IDIPv4, check.Warn, "AAAA records only"},
			},
			contains: []string{"only IPv6 (AAAA) records"},
		},
		{
			name: "private address", domain: "private.carto.test", local: behindNAT,
			want: []outcome{
				{IDResolves, check.Pass, "A 10.0.0.5"},
				{IDPointsHere, check.Warn, "10.0.0.5"},
				{IDPrivate, check.Warn, "10.0.0.5"},
			},
			contains: []string{"resolves to the private address 10.0.0.5"},
		},
		{
			name: "loopback address", domain: "loopback.carto.test", local: public,
			want: []outcome{
				{IDResolves, check.Pass, "A 127.0.0.1"},
				{IDPointsHere, check.Fail, "127.0.0.1"},
				{IDPrivate, check.Warn, "127.0.0.1"},
			},
			contains: []string{"loopback address 127.0.0.1"},
		},
		{
			name: "unknown local addresses", domain: "here.carto.test", local: nil,
			want: []outcome{
				{IDResolves, check.Pass, "A 203.0.113.10"},
				{IDPointsHere, check.Warn, "203.0.113.10"},
			},
		},
		{
			name: "NXDOMAIN", domain: "missing.carto.test", local: public,
			want: []outcome{
				{IDResolves, check.Fail, "no such name, or no A or AAAA record"},
			},
			contains: []string{"missing.carto.test does not resolve", "(203.0.113.10 and 2001:db8::10)"},
		},
		{
			name: "no records", domain: "empty.carto.test", local: public,
			want: []outcome{
				{IDResolves, check.Fail, "no such name, or no A or AAAA record"},
			},
			contains: []string{"empty.carto.test does not resolve"},
		},
		{
			name: "server failure", domain: "broken.carto.test", local: public,
			want: []outcome{
				{IDResolves, check.Error, "lookup failed"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			results := Resolve(context.Background(), resolver, tt.domain, tt.local)
			var got []outcome
			var messages []string
			for _, r := range results {
				got = append(got, outcome{r.ID, r.Status, r.Measured})
				messages = append(messages, r.Message+" "+r.Hint)
				if r.Step != Step || r.Field != Field || r.Message == "" {
					t.Errorf("result %s: step %q, field %q, message %q", r.ID, r.Step, r.Field, r.Message)
				}
				if r.Status != check.Pass && r.Hint == "" {
					t.Errorf("result %s is %s without a hint", r.ID, r.Status)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			all := strings.Join(messages, "\n")
			for _, c := range tt.contains {
				if !strings.Contains(all, c) {
					t.Errorf("messages do not contain %q:\n%s", c, all)
				}
			}
		})
	}
}

func TestUsableAddrs(t *testing.T) {
	cidr := func(s string) net.Addr {
		ip, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		n.IP = ip
		return n
	}
	got := usableAddrs([]net.Addr{
		cidr("127.0.0.1/8"),
		cidr("10.0.0.4/24"),
		cidr("::1/128"),
		cidr("fe80::1/64"),
		cidr("2001:db8::4/64"),
		&net.IPAddr{IP: net.ParseIP("203.0.113.10")},
		cidr("10.0.0.4/24"),
	})
	want := ips("10.0.0.4", "2001:db8::4", "203.0.113.10")
	if !slices.EqualFunc(got, want, net.IP.Equal) {
		t.Errorf("usableAddrs = %v, want %v", got, want)
	}
}

func TestLocalAddrs(t *testing.T) {
	addrs, err := LocalAddrs()
	if err != nil {
		t.Fatalf("LocalAddrs: %v", err)
	}
	for _, ip := range addrs {
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() {
			t.Errorf("LocalAddrs returned %v", ip)
		}
	}
}

func TestIsPublic(t *testing.T) {
	tests := []struct {
		ip   string
		want bool
	}{
		{"203.0.113.10", true},
		{"8.8.8.8", true},
		{"2001:db8::1", true},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"100.64.0.1", false},
		{"100.127.255.255", false},
		{"100.128.0.1", true},
		{"127.0.0.1", false},
		{"169.254.1.1", false},
		{"fd00::1", false},
		{"fe80::1", false},
		{"0.0.0.0", false},
	}
	for _, tt := range tests {
		if got := isPublic(net.ParseIP(tt.ip)); got != tt.want {
			t.Errorf("isPublic(%s) = %v, want %v", tt.ip, got, tt.want)
		}
	}
}
