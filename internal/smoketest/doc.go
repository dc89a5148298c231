// Package smoketest checks a CARTO install after Docker Compose brought it
// up: every service in its expected state, the router's certificate (the
// installed one byte for byte, covering the installed domain: see
// ReadInstalled) and chain, the port-80 redirect, the web apps and the APIs'
// health endpoints, and the database and bucket checks again. Each check has
// its own timeout and reports a check.Result with a fix hint. It also holds
// the manual checklist from CARTO's post-installation checks. It talks to
// Docker and the other checks only through the functions in Deps, and never
// changes anything it checks.
package smoketest
