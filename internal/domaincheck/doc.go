// Package domaincheck validates the domain CARTO will be served at
// (SELFHOSTED_DOMAIN) and checks it from two vantage points: DNS compared with
// this VM's addresses, and a random nonce on port 80 fetched both by this
// server and by the admin's browser, so that each failure can be named (does
// not resolve, resolves elsewhere, port closed, hairpin NAT, proxy or CDN). It
// reports check results only: it does not decide whether the wizard lets the
// admin continue, and it never edits DNS records, firewalls or files.
package domaincheck
