package smoketest

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// RouterCertsMount is where router-http sees the release's certs/
// directory, so ROUTER_SSL_CERTIFICATE_PATH names a file under it.
const RouterCertsMount = "/etc/nginx/ssl/"

// Installed is what the last install put on disk: the domain in the
// installed .env and the router certificate in certs/ that .env points
// router-http at. The smoke test checks the running stack against it, not
// against the wizard's state, which may have changed since the install.
type Installed struct {
	Domain   string
	CertPEM  string // the certificate file as installed; "" when the router generates its own
	CertFile string // its path on this VM
	// RouterGenerates is ROUTER_SSL_AUTOGENERATE=1: router-http makes a
	// self-signed certificate at start, so there is no file to compare.
	RouterGenerates bool
}

// ReadInstalled reads what the install wrote: SELFHOSTED_DOMAIN and the
// ROUTER_SSL_* variables from env (the release's .env, parsed) and the
// certificate file they name under releaseDir/certs.
func ReadInstalled(releaseDir string, env map[string]string) (Installed, error) {
	in := Installed{Domain: strings.TrimSpace(env["SELFHOSTED_DOMAIN"])}
	if in.Domain == "" {
		return Installed{}, errors.New("smoketest: the installed .env sets no SELFHOSTED_DOMAIN")
	}
	if strings.TrimSpace(env["ROUTER_SSL_AUTOGENERATE"]) == "1" {
		in.RouterGenerates = true
		return in, nil
	}
	inRouter := strings.TrimSpace(env["ROUTER_SSL_CERTIFICATE_PATH"])
	rel, ok := strings.CutPrefix(path.Clean(inRouter), RouterCertsMount)
	if !ok || rel == "" || strings.HasPrefix(rel, "..") {
		return Installed{}, fmt.Errorf("smoketest: ROUTER_SSL_CERTIFICATE_PATH %q is not a file under %s (the router's view of certs/)", inRouter, RouterCertsMount)
	}
	in.CertFile = filepath.Join(releaseDir, "certs", filepath.FromSlash(rel))
	b, err := os.ReadFile(in.CertFile)
	if err != nil {
		return Installed{}, fmt.Errorf("smoketest: the installed router certificate: %w", err)
	}
	in.CertPEM = string(b)
	return in, nil
}

// Apply sets what cfg expects of the router from the install: the domain
// and the certificate, which must be self-signed for the chain to be
// accepted without roots.
func (in Installed) Apply(cfg Config) Config {
	cfg.Domain = in.Domain
	cfg.CertPEM = in.CertPEM
	cfg.SelfSigned = in.RouterGenerates
	if certs, err := parseChain(in.CertPEM); err == nil && len(certs) == 1 && isSelfIssued(certs[0]) {
		cfg.SelfSigned = true
	}
	return cfg
}
