// Package preflight runs the wizard's first step: it measures the VM
// (operating system, CPUs, memory, disk), Docker (engine, Compose, socket
// access), the ports CARTO publishes, the release files and outbound
// reachability of the services CARTO needs, and reports each as a
// check.Result with step "preflight". Egress failures with one cause are one
// result (IDEgressDNS, IDEgressConnect, IDEgressTLS; a lone failure keeps
// its "preflight.egress.<host>" ID), and in demo mode a machine that reaches
// no egress host gets one IDOfflineDemo warning. It reads the system only
// through Deps, so every rule is testable, and it changes nothing on the
// host. Storing overrides is the caller's job; Fixed marks what cannot be
// overridden.
package preflight
