// Package logline is the line format shared by the benchmark's log
// generator (loggen) and its harness (logbench): every data line carries its
// sequence number, the time it was written and a payload that is a pure
// function of the sequence number and the options, so that a consumer can
// check each line byte for byte without keeping a copy. It is benchmark
// code: nothing in the product imports it.
package logline
