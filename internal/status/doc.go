// Package status reads what the Status page shows of a running install:
// each service's container (state, health, restarts, uptime) judged against
// what the release expects, the installed router certificate's expiry, and
// the CPU and memory series of the stats sampler. It only reads: it never
// starts, stops or changes a container or a file.
package status
