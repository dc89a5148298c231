package certcheck

import "github.com/carto-setup/carto-setup/internal/check"

// SelfSignedNotice is the warning the TLS step reports when the router
// serves a self-signed certificate for domain: it works, but browsers warn.
// The wizard and `carto-setup check tls` report the same result.
func SelfSignedNotice(domain string) check.Result {
	return check.Result{Step: Step, ID: IDSelfSigned, Status: check.Warn, Field: "tls_mode",
		Measured: "self-signed for " + domain, Required: "a certificate browsers trust",
		Message: "The router will serve a self-signed certificate: browsers warn until each user trusts it.",
		Hint:    "Download the certificate to compare its fingerprint, or use Let's Encrypt or your own certificate for production."}
}
