package dbcheck

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// ContainerNetwork is where CARTO's containers will connect from, for the
// pg_hba.conf hint. The caller reads it from the Docker Engine
// (engine.Client.ProjectSubnets): the Compose project's subnets when its
// network exists (Exist), else the pools Docker will carve it from.
type ContainerNetwork struct {
	Subnets []netip.Prefix
	Exist   bool
	Network string // e.g. "carto_default", when Exist
}

// hbaHost matches the client address in PostgreSQL's refusal:
// no pg_hba.conf entry for host "192.0.2.2", user "postgres", ...
var hbaHost = regexp.MustCompile(`pg_hba\.conf entry for host "([^"]+)"`)

// ServerSaw returns the client address PostgreSQL named when it refused a
// login for want of a pg_hba.conf rule: the address the server saw, which
// behind NAT is not this VM's own. It returns the zero Addr when err is
// not such a refusal (or the server's messages are not in English).
func ServerSaw(err error) netip.Addr {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return netip.Addr{}
	}
	m := hbaHost.FindStringSubmatch(pgErr.Message)
	if m == nil {
		return netip.Addr{}
	}
	a, perr := netip.ParseAddr(m[1])
	if perr != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// hbaHint says which pg_hba.conf lines let this VM's check and CARTO's
// containers log in: one for the address the server saw (or, when the
// message did not say, this VM's address as the attempt used it), and one
// per subnet the containers connect from when the database runs on this
// VM (elsewhere they reach it through this VM's address).
func hbaHint(cfg Config, seen netip.Addr, vm string, tlsWanted bool) string {
	kind := "host"
	if tlsWanted {
		kind = "hostssl"
	}
	line := func(p netip.Prefix) string { return fmt.Sprintf("%q", kind+" all all "+p.String()+" scram-sha-256") }
	var b strings.Builder
	if seen.IsValid() {
		fmt.Fprintf(&b, "PostgreSQL saw this VM's connection come from %s. Add the line %s to pg_hba.conf for the wizard's checks",
			seen, line(netip.PrefixFrom(seen, seen.BitLen())))
	} else {
		fmt.Fprintf(&b, "Add a %s line for %s with scram-sha-256 to pg_hba.conf for the wizard's checks", kind, vm)
	}
	if n := cfg.Containers; len(n.Subnets) > 0 {
		lines := make([]string, len(n.Subnets))
		subnets := make([]string, len(n.Subnets))
		for i, p := range n.Subnets {
			lines[i], subnets[i] = line(p.Masked()), p.Masked().String()
		}
		where := "the Compose network"
		if n.Network != "" {
			where += " " + n.Network
		}
		where += " (" + strings.Join(subnets, ", ") + ")"
		if !n.Exist {
			where = "a subnet Docker will pick from " + strings.Join(subnets, " or ") + " (the Compose network does not exist until the first install)"
		}
		fmt.Fprintf(&b, ", and %s for CARTO's containers, which connect from %s when the database runs on this VM, and through this VM's address otherwise", strings.Join(lines, " and "), where)
	}
	b.WriteString(". Then reload the server (SELECT pg_reload_conf()).")
	if !tlsWanted {
		b.WriteString(" If the server accepts only TLS connections, turn SSL on.")
	}
	return b.String()
}
