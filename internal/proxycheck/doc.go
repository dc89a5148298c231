// Package proxycheck checks the Advanced settings that change how CARTO's
// services reach the internet: the outbound proxy, by running the egress
// probes of the preflight through it (an HTTP CONNECT tunnel and a verified
// TLS handshake to each host CARTO needs), and an extra CA bundle
// (NODE_EXTRA_CA_CERTS), by reading it and, behind a proxy, by verifying a
// handshake through the proxy with it. It only dials out and reports
// check.Results; it writes nothing and knows nothing of the wizard.
package proxycheck
