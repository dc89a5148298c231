package dbcheck

// Fixed reports whether a connection failure of this kind is one no
// override can get past, because CARTO's services would meet it exactly as
// the check did: a rejected password or unknown user, a server that wants
// a client certificate (CARTO has none) or offers no TLS when TLS is asked
// for, and an admin database that does not exist or may not be used. Every
// other kind (the network, a pg_hba.conf rule the containers may satisfy
// while this VM does not, certificate names and dates, a busy server) may
// differ for the containers or by the time CARTO starts, so an admin may
// continue past it with a reason.
func (k Kind) Fixed() bool {
	switch k {
	case AuthFailed, ClientCertRequired, NoTLS, NoDatabase, NoPrivilege:
		return true
	}
	return false
}
