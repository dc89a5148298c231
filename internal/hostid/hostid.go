package hostid

import (
	"net"
	"os"
	"sort"
	"strings"
)

// Identity is every name and address the wizard can be reached by.
type Identity struct {
	Names []string // host names, including localhost
	IPs   []net.IP // interface addresses, including loopback
	// Bridges are addresses of container bridges (docker0, br-…): allowed
	// in the Host header, but no admin browses to them, so the console
	// does not offer them.
	Bridges []net.IP
}

// Local returns this host's names and addresses.
func Local() Identity {
	id := Identity{Names: []string{"localhost"}}
	if h, err := os.Hostname(); err == nil && h != "" {
		id.Names = append(id.Names, strings.ToLower(h))
	}
	ifaces, _ := net.Interfaces()
	for _, ifc := range ifaces {
		addrs, _ := ifc.Addrs()
		bridge := strings.HasPrefix(ifc.Name, "docker") || strings.HasPrefix(ifc.Name, "br-") || strings.HasPrefix(ifc.Name, "veth")
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.IsLinkLocalUnicast() {
				continue
			}
			if bridge {
				id.Bridges = append(id.Bridges, ipn.IP)
			} else {
				id.IPs = append(id.IPs, ipn.IP)
			}
		}
	}
	if len(id.IPs) == 0 {
		id.IPs = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	// Non-loopback addresses first: they are the ones an admin on another
	// machine can use.
	sort.SliceStable(id.IPs, func(i, j int) bool { return !id.IPs[i].IsLoopback() && id.IPs[j].IsLoopback() })
	return id
}

// AllowedHosts is the Host-header allowlist: every name and address.
func (id Identity) AllowedHosts() []string {
	out := append([]string(nil), id.Names...)
	for _, ip := range append(append([]net.IP(nil), id.IPs...), id.Bridges...) {
		out = append(out, ip.String())
	}
	return out
}

// SignInURLs returns one sign-in URL per address the listener is reachable
// on: each interface address when it listens on all of them, else its own.
func (id Identity) SignInURLs(listenAddr net.Addr, token string) []string {
	host, port, _ := net.SplitHostPort(listenAddr.String())
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		ips = []net.IP{ip}
	} else {
		ips = id.IPs
	}
	var urls []string
	for _, ip := range ips {
		urls = append(urls, "https://"+net.JoinHostPort(ip.String(), port)+"/signin?token="+token)
	}
	return urls
}
