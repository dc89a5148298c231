// Package logsummary keeps the console readable under attack: it counts the
// failed TLS handshakes that http.Server reports through its ErrorLog and
// the requests the server refuses, and writes one summary line per interval
// (how many, from how many addresses, the top addresses and reasons) instead
// of one line each. It never drops a line silently: what it does not pass
// through is counted in the next summary. It does not decide what to refuse
// and does not summarise lines logged directly, such as lockouts.
package logsummary
