package cachecheck

// Fixed reports whether a failure of this kind is one no override can get
// past, because CARTO's services would meet it exactly as the check did: a
// missing or rejected password, a server that wants a client certificate,
// speaks no TLS when TLS is on, refuses remote clients (protected mode), or
// is not Redis at all. Network failures, certificate names and dates and a
// loading server may differ for the containers or by the time CARTO
// starts, so an admin may continue past them with a reason.
func (k Kind) Fixed() bool {
	switch k {
	case NoAuth, WrongPassword, ClientCertRequired, NotTLS, Denied, NotRedis:
		return true
	}
	return false
}
