// Package measure holds what the benchmark harnesses share: CPU time and
// resident memory of processes read from /proc (Linux only), latency
// percentiles, and plain-text tables. It reports numbers and never judges
// them; nothing in the product imports it.
package measure
