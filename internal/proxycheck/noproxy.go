package proxycheck

import (
	"net"
	"net/netip"
	"strings"
)

// bypass reports whether hostport is exempt from the proxy by noProxy, a
// comma-separated NO_PROXY list as Node's proxy agents and Go read it: "*"
// exempts everything; an IP address or CIDR range matches addresses; a
// name matches itself and its subdomains (a leading "." or "*." changes
// nothing); an entry with a port matches only that port.
func bypass(noProxy, hostport string) bool {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	ip, ipErr := netip.ParseAddr(host)
	for _, e := range strings.Split(noProxy, ",") {
		e = strings.ToLower(strings.TrimSpace(e))
		if e == "" {
			continue
		}
		if e == "*" {
			return true
		}
		if p, err := netip.ParsePrefix(e); err == nil {
			if ipErr == nil && p.Contains(ip) {
				return true
			}
			continue
		}
		name, ePort := e, ""
		if h, p, err := net.SplitHostPort(e); err == nil {
			name, ePort = h, p
		}
		if ePort != "" && ePort != port {
			continue
		}
		if a, err := netip.ParseAddr(name); err == nil {
			if ipErr == nil && a == ip {
				return true
			}
			continue
		}
		name = strings.TrimPrefix(strings.TrimPrefix(name, "*"), ".")
		if host == name || strings.HasSuffix(host, "."+name) {
			return true
		}
	}
	return false
}
