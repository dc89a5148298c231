package preflight

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/carto-setup/carto-setup/internal/check"
)

// The IDs of grouped egress results. The per-host results keep their IDs
// ("preflight.egress.<host>"); these replace them when two or more hosts
// fail at the same stage, so that one cause (no DNS resolution on an
// offline VM) is one result and takes one override reason.
const (
	IDEgressDNS     = "preflight.egress.dns"     // two or more names do not resolve
	IDEgressConnect = "preflight.egress.connect" // two or more hosts refuse or drop the connection
	IDEgressTLS     = "preflight.egress.tls"     // two or more handshakes fail (often a TLS-inspecting proxy)
	// IDOfflineDemo replaces every egress result in demo mode when no
	// host could be resolved or connected to: the stand-in release needs
	// none of them, so it is a warning.
	IDOfflineDemo = "preflight.offline_demo"
)

// egressStage is where a failed egress probe stopped, read from the prefix
// probeEgress gives Measured ("DNS: ...", "connect: ...", "TLS: ...").
type egressStage string

const (
	stageDNS     egressStage = "DNS"
	stageConnect egressStage = "connect"
	stageTLS     egressStage = "TLS"
)

func stageOf(r check.Result) (egressStage, bool) {
	prefix, _, ok := strings.Cut(r.Measured, ":")
	switch s := egressStage(prefix); {
	case !ok || r.Status != check.Fail:
		return "", false
	case s == stageDNS, s == stageConnect, s == stageTLS:
		return s, true
	}
	return "", false
}

// egressHost is the host a per-host egress result is about.
func egressHost(r check.Result) string { return strings.TrimPrefix(r.ID, "preflight.egress.") }

// groupEgress replaces the failures of two or more hosts at the same stage
// with one result naming them all, in the place of the first. In demo mode
// an egress that reached nothing at all becomes the single offline-demo
// warning.
func groupEgress(results []check.Result, cfg Config) []check.Result {
	byStage := map[egressStage][]check.Result{}
	for _, r := range results {
		if s, ok := stageOf(r); ok {
			byStage[s] = append(byStage[s], r)
		}
	}
	if cfg.Demo && len(results) > 0 && len(byStage[stageDNS])+len(byStage[stageConnect]) == len(results) {
		return []check.Result{offlineDemo(results, byStage, cfg)}
	}
	var out []check.Result
	done := map[egressStage]bool{}
	for _, r := range results {
		s, failed := stageOf(r)
		if !failed || len(byStage[s]) < 2 {
			out = append(out, r)
			continue
		}
		if !done[s] {
			out = append(out, groupResult(s, byStage[s], len(results), cfg))
			done[s] = true
		}
	}
	return out
}

// causes summarises the per-host measurements of a group without the host
// names: "does not resolve" for 12, "lookup failed" for 1.
func causes(members []check.Result) string {
	counts := map[string]int{}
	var order []string
	for _, r := range members {
		_, what, _ := strings.Cut(r.Measured, ": ")
		what = withoutHost(what, egressHost(r))
		if counts[what] == 0 {
			order = append(order, what)
		}
		counts[what]++
	}
	parts := make([]string, len(order))
	for i, w := range order {
		parts[i] = w
		if len(order) > 1 {
			parts[i] += " (" + strconv.Itoa(counts[w]) + ")"
		}
	}
	return strings.Join(parts, ", ")
}

// withoutHost drops the host name from a measurement: "lookup of gcr.io
// failed" becomes "lookup failed", "gcr.io does not resolve" "does not
// resolve".
func withoutHost(what, host string) string {
	var kept []string
	for _, w := range strings.Fields(what) {
		if w == host {
			if n := len(kept); n > 0 && kept[n-1] == "of" {
				kept = kept[:n-1]
			}
			continue
		}
		kept = append(kept, w)
	}
	return strings.Join(kept, " ")
}

func hostList(members []check.Result) string {
	hosts := make([]string, len(members))
	for i, r := range members {
		hosts[i] = egressHost(r)
	}
	return strings.Join(hosts, ", ")
}

func groupResult(s egressStage, members []check.Result, total int, cfg Config) check.Result {
	n := len(members)
	hosts := hostList(members)
	measured := fmt.Sprintf("%s: %s, for %d of %d hosts: %s", s, causes(members), n, total, hosts)
	required := "DNS, TCP connect and TLS handshake to each host within " + cfg.egressTimeout().String()
	switch s {
	case stageDNS:
		return result(IDEgressDNS, check.Fail, measured, required,
			fmt.Sprintf("This VM cannot resolve the names of %d services CARTO needs: one cause, its DNS resolution, explains them all.", n),
			"Check the VM's DNS resolver (resolvectl status or /etc/resolv.conf); it must resolve public names.")
	case stageConnect:
		return result(IDEgressConnect, check.Fail, measured, required,
			fmt.Sprintf("This VM cannot connect to %d services CARTO needs: outbound HTTPS is blocked or there is no route out.", n),
			"Allow outbound HTTPS (TCP 443) from this VM to these hosts in the firewall or security group, and check the default route. If the VM must use a proxy, set it in customer.env (HTTPS_PROXY); this check connects directly.")
	}
	return result(IDEgressTLS, check.Fail, measured, required,
		fmt.Sprintf("The TLS handshake with %d services CARTO needs fails: something between this VM and them, often a TLS-inspecting proxy, answers instead.", n),
		"Exempt these hosts from TLS inspection, or give CARTO the proxy's CA (NODE_EXTRA_CA_CERTS); if the handshakes time out, allow outbound HTTPS in the firewall.")
}

// offlineDemo is the one result for a demo machine that reaches none of
// the egress hosts.
func offlineDemo(results []check.Result, byStage map[egressStage][]check.Result, cfg Config) check.Result {
	hosts := make([]string, len(results))
	for i, r := range results {
		hosts[i] = egressHost(r)
	}
	var parts []string
	if n := len(byStage[stageDNS]); n > 0 {
		parts = append(parts, strconv.Itoa(n)+" without DNS resolution")
	}
	if n := len(byStage[stageConnect]); n > 0 {
		parts = append(parts, strconv.Itoa(n)+" not connected")
	}
	measured := fmt.Sprintf("0 of %d hosts reachable (%s)", len(results), strings.Join(parts, ", "))
	return result(IDOfflineDemo, check.Warn, measured,
		"outbound HTTPS to the services CARTO needs (a real install only)",
		fmt.Sprintf("This demo machine is offline: it reaches none of the %d services a real CARTO install needs. The demo's stand-in release needs none of them, so the demo continues.", len(results)),
		"Nothing to do for the demo. Before a real install, give the VM DNS resolution and outbound HTTPS to "+strings.Join(hosts, ", ")+".")
}
