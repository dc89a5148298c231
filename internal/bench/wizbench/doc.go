// Command wizbench measures the wizard binary itself, as make bench runs
// it: the time from exec to the first answered request, its resident memory
// when idle, and the latency of a step page under concurrent requests. It
// starts the real static binary (bin/carto-setup) on loopback with a
// temporary state directory and reports; it never gates.
package main
