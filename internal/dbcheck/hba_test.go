package dbcheck

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestServerSaw(t *testing.T) {
	t.Parallel()
	wrap := func(msg string) error {
		return fmt.Errorf("failed to connect: %w", &pgconn.PgError{Code: "28000", Message: msg})
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"NAT address", wrap(`no pg_hba.conf entry for host "192.0.2.2", user "postgres", database "postgres", no encryption`), "192.0.2.2"},
		{"IPv6", wrap(`no pg_hba.conf entry for host "::1", user "x", database "y", SSL encryption`), "::1"},
		{"IPv4-mapped", wrap(`no pg_hba.conf entry for host "::ffff:10.0.0.5", user "x", database "y"`), "10.0.0.5"},
		{"localised server", wrap(`keine Zeile in pg_hba.conf für Host »192.0.2.2«`), ""},
		{"another error", wrap(`password authentication failed for user "postgres"`), ""},
		{"not a server error", errors.New(`no pg_hba.conf entry for host "192.0.2.2"`), ""},
	}
	for _, tt := range tests {
		got := ServerSaw(tt.err)
		if (tt.want == "" && got.IsValid()) || (tt.want != "" && got.String() != tt.want) {
			t.Errorf("%s: ServerSaw = %v, want %q", tt.name, got, tt.want)
		}
	}
}

// TestHBAHint is the case: the VM connects as 172.17.0.1 but the
// server saw 192.0.2.2, and the containers will connect from the Compose
// network's subnet (or, before the first install, from Docker's pools).
func TestHBAHint(t *testing.T) {
	t.Parallel()
	seen := netip.MustParseAddr("192.0.2.2")
	project := ContainerNetwork{Subnets: []netip.Prefix{netip.MustParsePrefix("172.18.0.0/16")}, Exist: true, Network: "carto_default"}
	pools := ContainerNetwork{Subnets: []netip.Prefix{netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.168.0.0/16")}}
	tests := []struct {
		name     string
		seen     netip.Addr
		net      ContainerNetwork
		tls      bool
		want     []string
		dontWant []string
	}{
		{"project network", seen, project, false,
			[]string{`saw this VM's connection come from 192.0.2.2`, `"host all all 192.0.2.2/32 scram-sha-256"`,
				`"host all all 172.18.0.0/16 scram-sha-256"`, "carto_default (172.18.0.0/16)", "pg_reload_conf()", "turn SSL on"},
			[]string{"172.17.0.1", "`"}},
		{"pools before the first install", seen, pools, true,
			[]string{`"hostssl all all 192.0.2.2/32 scram-sha-256"`, `"hostssl all all 172.16.0.0/12 scram-sha-256" and "hostssl all all 192.168.0.0/16 scram-sha-256"`,
				"does not exist until the first install"},
			[]string{"turn SSL on", "172.17.0.1"}},
		{"no containers known", seen, ContainerNetwork{}, false,
			[]string{"192.0.2.2/32"}, []string{"containers"}},
		{"server did not say", netip.Addr{}, project, false,
			[]string{"Add a host line for 172.17.0.1 (or the VM's public IP", "172.18.0.0/16"}, []string{"saw"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := hbaHint(Config{Containers: tt.net}, tt.seen, "172.17.0.1 (or the VM's public IP if it reaches the database through NAT)", tt.tls)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("hint lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tt.dontWant {
				if strings.Contains(got, w) {
					t.Errorf("hint has %q:\n%s", w, got)
				}
			}
		})
	}
}
