// Command logbench measures the live log view against docker logs -f, side
// by side on the same container in one run (logstream.md sections 5.3 and
// 5.4), and prints the tables of docs/performance.md. It builds loggen into a
// FROM scratch image, runs each phase's container gated until every
// consumer is attached, and reads it with docker logs -f --timestamps and
// with websocket clients of the wizard's own log handler. The server side
// runs in a child process of this same binary ("logbench serve"), so that
// its CPU and memory are measured apart from the clients'. It reports and
// never gates: there is no pass or fail.
package main
