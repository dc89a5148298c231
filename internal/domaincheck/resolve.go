package domaincheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
)

// Step is the wizard step every result of this package belongs to, and Field
// the form field the wizard renders them next to.
const (
	Step  = "domain"
	Field = "domain"
)

// Stable IDs of the results this package reports; automation matches on them.
const (
	IDResolves     = "domain.resolves"      // the name has A or AAAA records
	IDPointsHere   = "domain.points_here"   // those records are this VM's addresses
	IDPrivate      = "domain.private"       // a record is a private or loopback address
	IDIPv4         = "domain.ipv4"          // there is no A record
	IDServerProbe  = "domain.server_probe"  // this VM fetched the nonce through the domain
	IDBrowserProbe = "domain.browser_probe" // the admin's browser fetched it
	IDReachable    = "domain.reachable"     // both vantage points together
)

const (
	lookupTimeout   = 5 * time.Second
	addrListPrinted = 6 // addresses listed in one message before "and N more"
)

// Resolver looks up a host's addresses. *net.Resolver satisfies it; tests
// point one at an in-test DNS server. Note that *net.Resolver also reads
// /etc/hosts, which CARTO's containers do not see.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Resolve looks up domain's A and AAAA records and compares them with
// localAddrs, this VM's own addresses (see LocalAddrs). It always returns
// IDResolves first; when the name resolves it adds IDPointsHere and, where
// they apply, IDPrivate and IDIPv4.
//
// "Resolves elsewhere" is a failure when this VM has a public address of the
// same family that the records do not list, and only a warning when the VM
// has private addresses alone: it is then probably behind NAT, its public
// address is invisible from inside, and the reachability probe decides.
func Resolve(ctx context.Context, resolver Resolver, domain string, localAddrs []net.IP) []check.Result {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	addrs, err := resolver.LookupIPAddr(ctx, domain)
	var ips []net.IP
	for _, a := range addrs {
		if !slices.ContainsFunc(ips, a.IP.Equal) {
			ips = append(ips, a.IP)
		}
	}
	if err != nil || len(ips) == 0 {
		return []check.Result{lookupFailure(domain, err, localAddrs)}
	}
	// IPv4 first, then IPv6, each in address order, so messages are stable.
	slices.SortFunc(ips, func(a, b net.IP) int {
		if (a.To4() == nil) != (b.To4() == nil) {
			if a.To4() != nil {
				return -1
			}
			return 1
		}
		return slices.Compare(a.To16(), b.To16())
	})

	results := []check.Result{{
		Step: Step, ID: IDResolves, Field: Field, Status: check.Pass,
		Measured: describeRecords(ips),
		Required: "an A or AAAA record",
		Message:  fmt.Sprintf("%s resolves to %s.", domain, listAddrs(ips)),
	}}
	results = append(results, pointsHere(domain, ips, localAddrs))
	if r, ok := privateNote(domain, ips); ok {
		results = append(results, r)
	}
	if !slices.ContainsFunc(ips, isIPv4) {
		results = append(results, check.Result{
			Step: Step, ID: IDIPv4, Field: Field, Status: check.Warn,
			Measured: "AAAA records only",
			Required: "an A record",
			Message:  fmt.Sprintf("%s has only IPv6 (AAAA) records: clients and networks without IPv6, including Docker's default networks, cannot reach it.", domain),
			Hint:     "Add an A record with this VM's public IPv4 address, unless every user of CARTO has IPv6.",
		})
	}
	return results
}

// lookupFailure turns a failed or empty lookup into the IDResolves result.
func lookupFailure(domain string, err error, local []net.IP) check.Result {
	r := check.Result{Step: Step, ID: IDResolves, Field: Field, Required: "an A or AAAA record"}
	var dnsErr *net.DNSError
	switch {
	case err == nil, errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		r.Status = check.Fail
		r.Measured = "no such name, or no A or AAAA record"
		r.Message = fmt.Sprintf("%s does not resolve: DNS has no A or AAAA record for it.", domain)
		r.Hint = "Create an A record (and an AAAA record if you use IPv6) for " + domain + " pointing at this VM's public address"
		if pub := publicAddrs(local); len(pub) > 0 {
			r.Hint += " (" + listAddrs(pub) + ")"
		}
		r.Hint += ". New records can take a few minutes to appear."
	case errors.As(err, &dnsErr) && dnsErr.IsTimeout, errors.Is(err, context.DeadlineExceeded):
		r.Status = check.Error
		r.Measured = "no answer from the DNS server"
		r.Message = fmt.Sprintf("Could not look up %s: the DNS server did not answer in time.", domain)
		r.Hint = "Check the nameservers in /etc/resolv.conf and that this VM can reach them, then try again."
	default:
		r.Status = check.Error
		r.Measured = "lookup failed"
		r.Message = fmt.Sprintf("Could not look up %s: the DNS server reported an error.", domain)
		r.Hint = "Check the domain's DNS servers (a broken delegation or DNSSEC error shows up like this), then try again."
	}
	return r
}

// pointsHere compares the records with this VM's addresses.
func pointsHere(domain string, ips, local []net.IP) check.Result {
	r := check.Result{
		Step: Step, ID: IDPointsHere, Field: Field,
		Measured: listAddrs(ips),
		Required: "this VM's address",
	}
	if len(local) > 0 {
		r.Required = "one of this VM's addresses: " + listAddrs(local)
	}
	var here, elsewhere []net.IP
	for _, ip := range ips {
		if slices.ContainsFunc(local, ip.Equal) {
			here = append(here, ip)
		} else {
			elsewhere = append(elsewhere, ip)
		}
	}
	switch {
	case len(local) == 0:
		r.Status = check.Warn
		r.Message = fmt.Sprintf("%s resolves to %s; this VM's own addresses are unknown, so they could not be compared.", domain, listAddrs(ips))
		r.Hint = "The reachability test below shows whether requests to the domain arrive here."
	case len(elsewhere) == 0:
		r.Status = check.Pass
		r.Message = fmt.Sprintf("%s resolves to this VM (%s).", domain, listAddrs(here))
	case len(here) > 0:
		r.Status = check.Warn
		r.Message = fmt.Sprintf("%s resolves to this VM (%s) but also to %s, which is not this VM: some clients will reach another machine.", domain, listAddrs(here), listAddrs(elsewhere))
		r.Hint = "Remove the records for " + listAddrs(elsewhere) + ", unless that is a load balancer that forwards to this VM."
	default:
		r.Message = fmt.Sprintf("%s resolves elsewhere: to %s, but this VM's addresses are %s.", domain, listAddrs(elsewhere), listAddrs(local))
		if hasPublicOfFamily(local, elsewhere) {
			r.Status = check.Fail
			r.Hint = "Point the record at this VM's public address (" + listAddrs(publicAddrs(local)) + "). If " + listAddrs(elsewhere) + " is a load balancer or NAT that forwards ports 80 and 443 here, the reachability test below shows it and you may continue."
		} else {
			r.Status = check.Warn
			r.Hint = "This VM has only private addresses, so it is probably behind NAT and " + listAddrs(elsewhere) + " may be its public address; the reachability test below decides."
		}
	}
	return r
}

// privateNote reports records that hold private, loopback or link-local
// addresses: only machines on the same network can use them, and a public
// certificate authority cannot validate the name.
func privateNote(domain string, ips []net.IP) (check.Result, bool) {
	var private, loopback []net.IP
	for _, ip := range ips {
		switch {
		case ip.IsLoopback() || ip.IsUnspecified():
			loopback = append(loopback, ip)
		case !isPublic(ip):
			private = append(private, ip)
		}
	}
	r := check.Result{Step: Step, ID: IDPrivate, Field: Field, Status: check.Warn, Required: "a public address"}
	switch {
	case len(loopback) > 0:
		r.Measured = listAddrs(loopback)
		r.Message = fmt.Sprintf("%s resolves to the loopback address %s: every machine, including CARTO's own containers, would reach itself instead of this VM.", domain, listAddrs(loopback))
		r.Hint = "Point the record at this VM's real address."
	case len(private) > 0:
		r.Measured = listAddrs(private)
		r.Message = fmt.Sprintf("%s resolves to the private address %s: only machines on the same network or VPN can reach it.", domain, listAddrs(private))
		r.Hint = "That is fine for an internal install. Let's Encrypt cannot validate a private name; use your own certificate in the TLS step."
	default:
		return check.Result{}, false
	}
	return r, true
}

// LocalAddrs returns the addresses of this VM's interfaces that are up,
// without loopback and link-local ones. Behind NAT (most clouds) the public
// address is not among them; Resolve allows for that.
func LocalAddrs() ([]net.IP, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("domaincheck: list interfaces: %w", err)
	}
	var addrs []net.Addr
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		a, err := ifc.Addrs()
		if err != nil {
			return nil, fmt.Errorf("domaincheck: addresses of %s: %w", ifc.Name, err)
		}
		addrs = append(addrs, a...)
	}
	return usableAddrs(addrs), nil
}

// usableAddrs keeps the addresses a DNS record could point at.
func usableAddrs(addrs []net.Addr) []net.IP {
	var ips []net.IP
	for _, a := range addrs {
		var ip net.IP
		switch v := a.(type) {
		case *net.IPNet:
			ip = v.IP
		case *net.IPAddr:
			ip = v.IP
		}
		if ip == nil || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified() {
			continue
		}
		if !slices.ContainsFunc(ips, ip.Equal) {
			ips = append(ips, ip)
		}
	}
	return ips
}

// isPublic reports whether ip is routable on the internet: not private
// (RFC 1918, fc00::/7), not carrier-grade NAT (100.64.0.0/10), not loopback
// or link-local.
func isPublic(ip net.IP) bool {
	if ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() || !ip.IsGlobalUnicast() {
		return false
	}
	if v4 := ip.To4(); v4 != nil && v4[0] == 100 && v4[1]&0xc0 == 64 {
		return false
	}
	return true
}

func publicAddrs(ips []net.IP) []net.IP {
	var pub []net.IP
	for _, ip := range ips {
		if isPublic(ip) {
			pub = append(pub, ip)
		}
	}
	return pub
}

// hasPublicOfFamily reports whether local holds a public address of the same
// family (IPv4 or IPv6) as one of ips.
func hasPublicOfFamily(local, ips []net.IP) bool {
	for _, l := range publicAddrs(local) {
		for _, ip := range ips {
			if isIPv4(l) == isIPv4(ip) {
				return true
			}
		}
	}
	return false
}

func isIPv4(ip net.IP) bool { return ip.To4() != nil }

// describeRecords lists addresses by record type, "A 203.0.113.10; AAAA 2001:db8::1".
func describeRecords(ips []net.IP) string {
	var a, aaaa []string
	for _, ip := range ips {
		if isIPv4(ip) {
			a = append(a, ip.String())
		} else {
			aaaa = append(aaaa, ip.String())
		}
	}
	var parts []string
	if len(a) > 0 {
		parts = append(parts, "A "+strings.Join(a, ", "))
	}
	if len(aaaa) > 0 {
		parts = append(parts, "AAAA "+strings.Join(aaaa, ", "))
	}
	return strings.Join(parts, "; ")
}

// listAddrs prints addresses for a sentence, shortening long lists.
func listAddrs(ips []net.IP) string {
	s := make([]string, 0, len(ips))
	for i, ip := range ips {
		if i == addrListPrinted {
			s = append(s, fmt.Sprintf("%d more", len(ips)-i))
			break
		}
		s = append(s, ip.String())
	}
	return joinAnd(s)
}
