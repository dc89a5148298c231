package certcheck

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/selfsigned"
)

// Step is the check.Result step of every result this package reports.
const Step = "tls"

// The form fields a result can belong to.
const (
	FieldCert  = "cert"
	FieldChain = "chain"
	FieldKey   = "key"
)

// The stable IDs of the checks Lint reports. Automation is written against
// them, so they never change meaning.
const (
	IDCertPEM       = "tls.cert.pem"
	IDChainPEM      = "tls.chain.pem"
	IDKeyPEM        = "tls.key.pem"
	IDKeyPassphrase = "tls.key.passphrase"
	IDKeyMatch      = "tls.key.match"
	IDKeyType       = "tls.key.type"
	IDSAN           = "tls.san"
	IDValidity      = "tls.validity"
	IDExpiry        = "tls.expiry"
	IDEKU           = "tls.eku"
	IDChain         = "tls.chain"
	IDSelfSigned    = "tls.self_signed"
	IDChainOrder    = "tls.chain.order"
)

// MaxPEMBlocks is how many PEM blocks one upload field may hold. A real
// chain is the server certificate and one to three intermediates, perhaps
// uploaded twice (in the certificate file and as the chain); a field with
// thousands is an attack on the chain builder, refused before any
// certificate is parsed.
const MaxPEMBlocks = 12

// meter counts the work of one Lint so that tests can assert it is linear
// in the upload: bytes scanned for PEM, bytes handed to the DER parsers,
// certificate comparisons and signature checks (whose cost does not grow
// with the input, only with the bounded number of certificates).
type meter struct {
	scanned, parsed, compares, signatures int
}

// ExpiryWarning is how close to its end a certificate's validity must be for
// Lint to warn. Thirty days leaves time to renew before browsers refuse it.
const ExpiryWarning = 30 * 24 * time.Hour

// Input is an uploaded certificate. CertPEM holds the leaf and may also hold
// the whole chain; ChainPEM holds intermediates when the CA sent them apart.
type Input struct {
	Domain   string
	CertPEM  []byte
	ChainPEM []byte
	KeyPEM   []byte
}

// Report is the outcome of Lint. Results lists every check that ran. The
// remaining fields describe the leaf when it could be parsed. FullChainPEM
// and KeyPEM are what nginx should be given (the leaf first, then its issuers
// in order, and the key alone); they are set when no Fixed failure stands in
// the way, so an overridable failure (say, an expired certificate) still
// needs the admin's override before they are written.
type Report struct {
	Results      []check.Result
	FullChainPEM []byte
	KeyPEM       []byte
	Fingerprint  string
	NotAfter     time.Time
	Issuer       string
}

// Usable reports whether the normalised files exist, that is, no failure
// that cannot be overridden was found. check.Failed(r.Results) still tells
// whether an override is needed.
func (r Report) Usable() bool { return r.FullChainPEM != nil && r.KeyPEM != nil }

// Lint checks an uploaded certificate and key for the domain at the time now.
// The chain is verified against roots, or against the system roots when roots
// is nil; a private pool is how tests and private CAs are checked.
// Each field may hold at most MaxPEMBlocks PEM blocks.
func Lint(in Input, now time.Time, roots *x509.CertPool) Report {
	return lint(in, now, roots, &meter{})
}

func lint(in Input, now time.Time, roots *x509.CertPool, m *meter) Report {
	var rep Report
	add := func(rs ...check.Result) { rep.Results = append(rep.Results, rs...) }

	certs, certRes := parseCerts(IDCertPEM, FieldCert, in.CertPEM, true, m)
	add(certRes)
	chainCerts, chainRes := parseCerts(IDChainPEM, FieldChain, in.ChainPEM, false, m)
	add(chainRes)
	key, keyRes := parseKey(in.KeyPEM, m)
	add(keyRes...)
	if certs == nil || chainRes.Status == check.Fail {
		markFixed(rep.Results)
		return rep
	}

	all, dups := dedupe(append(certs, chainCerts...), m)
	leaf := pickLeaf(certs, key, m)
	rep.Fingerprint = selfsigned.Fingerprint(leaf.Raw)
	rep.NotAfter = leaf.NotAfter
	rep.Issuer = leaf.Issuer.String()

	if key != nil {
		add(checkKeyMatch(leaf, key.signer))
	}
	add(checkKeyType(leaf))
	add(checkSAN(leaf, in.Domain))
	validity := checkValidity(leaf, now)
	add(validity)
	if validity.Status == check.Pass {
		add(checkExpiry(leaf, now))
	}
	add(checkEKU(leaf))

	path := buildPath(leaf, all, m)
	m.signatures++
	if isSelfSigned(leaf) {
		add(selfSignedResult(leaf))
	} else {
		add(checkChain(leaf, path, all, now, roots, m))
	}
	add(checkOrder(all, path, dups, m))
	markFixed(rep.Results)

	if key != nil && !blocked(rep.Results) {
		var buf bytes.Buffer
		for _, c := range path {
			_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		}
		rep.FullChainPEM = buf.Bytes()
		rep.KeyPEM = key.pem
	}
	return rep
}

// markFixed marks the failures no override can get past: nginx cannot load
// a file that is not PEM, a key it cannot decrypt or a key that does not
// belong to the certificate, and a certificate whose names do not cover the
// domain is refused, because no browser accepts it for CARTO's URLs and the
// smoke test fails it. Every other failure (dates, key type, chain, usage)
// still yields a working server, so the admin may override it knowingly.
func markFixed(results []check.Result) {
	for i, r := range results {
		switch r.ID {
		case IDCertPEM, IDChainPEM, IDKeyPEM, IDKeyPassphrase, IDKeyMatch, IDSAN:
			results[i].Fixed = r.Status == check.Fail
		}
	}
}

func blocked(results []check.Result) bool {
	for _, r := range results {
		if r.Fixed {
			return true
		}
	}
	return false
}

// SelfSigned generates a self-signed certificate for the domain, valid for a
// year from now, for the wizard's "generate self-signed" option. The
// fingerprint is the SHA-256 of the certificate, for the admin to compare
// with what the browser shows.
func SelfSigned(domain string, now time.Time) (certPEM, keyPEM []byte, fingerprint string, err error) {
	if domain == "" {
		return nil, nil, "", errors.New("certcheck: self-signed: empty domain")
	}
	certPEM, keyPEM, err = selfsigned.Generate(selfsigned.Request{
		CommonName: domain,
		DNSNames:   []string{domain},
		NotBefore:  now,
		Validity:   365 * 24 * time.Hour,
	})
	if err != nil {
		return nil, nil, "", fmt.Errorf("certcheck: self-signed: %w", err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return nil, nil, "", errors.New("certcheck: self-signed: generated certificate is not PEM")
	}
	return certPEM, keyPEM, selfsigned.Fingerprint(block.Bytes), nil
}

// dedupe drops repeated certificates, which appear when the certificate file
// already holds the chain that was also uploaded apart.
func dedupe(in []*x509.Certificate, m *meter) ([]*x509.Certificate, int) {
	var out []*x509.Certificate
	seen := map[string]bool{}
	dups := 0
	for _, c := range in {
		m.compares++
		if seen[string(c.Raw)] {
			dups++
			continue
		}
		seen[string(c.Raw)] = true
		out = append(out, c)
	}
	return out, dups
}

// pickLeaf finds the server certificate among the uploaded ones: the one the
// key belongs to, else the first that is not a CA, else the first.
func pickLeaf(certs []*x509.Certificate, key *parsedKey, m *meter) *x509.Certificate {
	if key != nil {
		// The certificate the key belongs to is the server's, even when it
		// claims to be a CA, as "openssl req -x509" certificates do.
		for _, c := range certs {
			m.compares++
			if samePublicKey(c.PublicKey, key.signer.Public()) {
				return c
			}
		}
	}
	for _, c := range certs {
		if !isCA(c) {
			return c
		}
	}
	return certs[0]
}

func isCA(c *x509.Certificate) bool { return c.BasicConstraintsValid && c.IsCA }

func samePublicKey(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// isSelfSigned reports whether c is signed by its own key. It checks the
// signature directly because CheckSignatureFrom refuses a parent that is not
// a CA, and self-signed server certificates usually are not.
func isSelfSigned(c *x509.Certificate) bool {
	if !bytes.Equal(c.RawIssuer, c.RawSubject) {
		return false
	}
	return c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// buildPath orders the uploaded certificates from the leaf up: each next one
// is the uploaded certificate that signed the previous one. Candidates are
// looked up by subject, so only a certificate named as the issuer costs a
// signature check; each certificate enters the path at most once.
func buildPath(leaf *x509.Certificate, all []*x509.Certificate, m *meter) []*x509.Certificate {
	bySubject := map[string][]*x509.Certificate{}
	for _, c := range all {
		m.compares++
		bySubject[string(c.RawSubject)] = append(bySubject[string(c.RawSubject)], c)
	}
	path := []*x509.Certificate{leaf}
	used := map[string]bool{string(leaf.Raw): true}
	for cur := leaf; ; {
		m.signatures++
		if isSelfSigned(cur) {
			break
		}
		var next *x509.Certificate
		for _, c := range bySubject[string(cur.RawIssuer)] {
			m.compares++
			if used[string(c.Raw)] {
				continue
			}
			m.signatures++
			if cur.CheckSignatureFrom(c) == nil {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		path = append(path, next)
		used[string(next.Raw)] = true
		cur = next
	}
	return path
}

func checkKeyMatch(leaf *x509.Certificate, key crypto.Signer) check.Result {
	if samePublicKey(leaf.PublicKey, key.Public()) {
		return result(IDKeyMatch, FieldKey, check.Pass, "The private key belongs to the certificate.", "")
	}
	return result(IDKeyMatch, FieldKey, check.Fail,
		"The private key does not match the certificate.",
		"Upload the key generated with this certificate's request. Both of these must print the same hash: "+
			"openssl x509 -noout -pubkey -in cert.pem | openssl sha256 and openssl pkey -pubout -in key.pem | openssl sha256")
}

func checkKeyType(leaf *x509.Certificate) check.Result {
	const required = "RSA 2048-bit or larger, or ECDSA P-256/P-384"
	hint := "Request a new certificate with an RSA 2048-bit (or larger) or an ECDSA P-256 key."
	var (
		measured string
		status   = check.Pass
		msg      string
	)
	switch k := leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		bits := k.N.BitLen()
		measured = fmt.Sprintf("RSA %d-bit", bits)
		if bits < 2048 {
			status, msg = check.Fail, fmt.Sprintf("The certificate's RSA key is %d bits; browsers require at least 2048.", bits)
		}
	case *ecdsa.PublicKey:
		measured = "ECDSA " + k.Curve.Params().Name
		switch k.Curve {
		case elliptic.P256(), elliptic.P384():
		case elliptic.P521():
			status, msg = check.Warn, "The certificate uses an ECDSA P-521 key, which Chrome and other browsers do not accept."
		default:
			status, msg = check.Fail, "The certificate uses an unsupported elliptic curve."
		}
	case ed25519.PublicKey:
		measured = "Ed25519"
		status, msg = check.Fail, "The certificate uses an Ed25519 key, which browsers do not accept."
	default:
		measured = fmt.Sprintf("%T", k)
		status, msg = check.Fail, "The certificate uses a key type nginx clients do not accept."
	}
	if status == check.Pass {
		msg, hint = "The certificate's key type ("+measured+") is accepted by browsers.", ""
	}
	r := result(IDKeyType, FieldCert, status, msg, hint)
	r.Measured, r.Required = measured, required
	return r
}

func checkSAN(leaf *x509.Certificate, domain string) check.Result {
	domain = normalizeName(domain)
	if len(leaf.DNSNames) == 0 && len(leaf.IPAddresses) == 0 {
		r := result(IDSAN, FieldCert, check.Fail,
			fmt.Sprintf("The certificate has no Subject Alternative Names, only the Common Name %q, which browsers ignore.", leaf.Subject.CommonName),
			"Request a new certificate that lists the domain as a DNS Subject Alternative Name.")
		r.Measured, r.Required = "CN="+leaf.Subject.CommonName, domain
		return r
	}
	if domain == "" {
		return result(IDSAN, FieldCert, check.Error, "No domain is set, so the certificate's names cannot be checked.",
			"Set the domain in the domain step first.")
	}
	measured := strings.Join(leaf.DNSNames, ", ")
	for _, name := range leaf.DNSNames {
		if MatchName(name, domain) {
			r := result(IDSAN, FieldCert, check.Pass, fmt.Sprintf("The certificate covers %s (as %s).", domain, name), "")
			r.Measured, r.Required = measured, domain
			return r
		}
	}
	r := result(IDSAN, FieldCert, check.Fail,
		fmt.Sprintf("The certificate's names do not cover %s.", domain),
		fmt.Sprintf("Request a certificate that includes %s. A wildcard covers exactly one label: *.example.com covers a.example.com, but neither example.com nor a.b.example.com.", domain))
	r.Measured, r.Required = measured, domain
	return r
}

// MatchName reports whether a certificate DNS name covers host, following
// RFC 6125 as browsers apply it: case-insensitive, and a wildcard only as the
// whole left-most label, standing for exactly one label.
func MatchName(pattern, host string) bool {
	pattern, host = normalizeName(pattern), normalizeName(host)
	if pattern == "" || host == "" {
		return false
	}
	if !strings.Contains(pattern, "*") {
		return pattern == host
	}
	suffix, ok := strings.CutPrefix(pattern, "*.")
	if !ok || strings.Contains(suffix, "*") || !strings.Contains(suffix, ".") {
		// Partial-label wildcards (f*.example.com) and wildcards over a
		// single label (*.com) are refused by browsers.
		return false
	}
	label, rest, found := strings.Cut(host, ".")
	return found && label != "" && rest == suffix
}

func normalizeName(s string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "."))
}

func checkValidity(leaf *x509.Certificate, now time.Time) check.Result {
	span := leaf.NotBefore.UTC().Format(time.DateOnly) + " to " + leaf.NotAfter.UTC().Format(time.DateOnly)
	var r check.Result
	switch {
	case now.Before(leaf.NotBefore):
		r = result(IDValidity, FieldCert, check.Fail,
			fmt.Sprintf("The certificate is not valid yet: it starts on %s.", leaf.NotBefore.UTC().Format(time.RFC3339)),
			"Check that this machine's clock is right, or wait until the certificate's start date.")
	case now.After(leaf.NotAfter):
		r = result(IDValidity, FieldCert, check.Fail,
			fmt.Sprintf("The certificate expired on %s.", leaf.NotAfter.UTC().Format(time.RFC3339)),
			"Renew the certificate with your certificate authority and upload the new one.")
	default:
		r = result(IDValidity, FieldCert, check.Pass, "The certificate is valid now.", "")
	}
	r.Measured, r.Required = span, "valid on "+now.UTC().Format(time.DateOnly)
	return r
}

func checkExpiry(leaf *x509.Certificate, now time.Time) check.Result {
	left := leaf.NotAfter.Sub(now)
	days := int(left.Hours() / 24)
	measured := fmt.Sprintf("%d days left", days)
	var r check.Result
	if left < ExpiryWarning {
		r = result(IDExpiry, FieldCert, check.Warn,
			fmt.Sprintf("The certificate expires in %d days, on %s.", days, leaf.NotAfter.UTC().Format(time.DateOnly)),
			"Renew it soon and upload the new certificate; browsers refuse it once it expires.")
	} else {
		r = result(IDExpiry, FieldCert, check.Pass,
			fmt.Sprintf("The certificate is valid until %s.", leaf.NotAfter.UTC().Format(time.DateOnly)), "")
	}
	r.Measured, r.Required = measured, fmt.Sprintf("at least %d days", int(ExpiryWarning.Hours()/24))
	return r
}

func checkEKU(leaf *x509.Certificate) check.Result {
	if len(leaf.ExtKeyUsage) == 0 && len(leaf.UnknownExtKeyUsage) == 0 {
		return result(IDEKU, FieldCert, check.Pass, "The certificate does not restrict its usage.", "")
	}
	for _, u := range leaf.ExtKeyUsage {
		if u == x509.ExtKeyUsageServerAuth || u == x509.ExtKeyUsageAny {
			return result(IDEKU, FieldCert, check.Pass, "The certificate may be used by a TLS server.", "")
		}
	}
	r := result(IDEKU, FieldCert, check.Fail,
		"The certificate is not meant for a TLS server: its extended key usage lacks serverAuth.",
		"Request a TLS server (web server) certificate; this one is for another use, such as client authentication or code signing.")
	r.Required = "serverAuth"
	return r
}

func selfSignedResult(leaf *x509.Certificate) check.Result {
	r := result(IDSelfSigned, FieldCert, check.Warn,
		"The certificate is self-signed: browsers will warn every user until they accept it.",
		"Use a certificate from a public certificate authority, or obtain one from Let's Encrypt, to avoid the warning.")
	r.Measured = "issuer " + leaf.Issuer.String()
	return r
}

func checkChain(leaf *x509.Certificate, path, all []*x509.Certificate, now time.Time, roots *x509.CertPool, m *meter) check.Result {
	inter := x509.NewCertPool()
	for _, c := range all {
		m.compares++
		if !c.Equal(leaf) {
			inter.AddCert(c)
		}
	}
	at := now
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		// The validity check already reports this; verify the chain at a
		// time the leaf is valid so the two problems are reported apart.
		at = leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) / 2)
	}
	measured := chainNames(path)
	// x509 bounds its own signature checks per Verify; with at most
	// 2*MaxPEMBlocks candidates the search is small.
	m.signatures += len(all)
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err == nil {
		r := result(IDChain, FieldChain, check.Pass, "The chain is complete and leads to a trusted root.", "")
		r.Measured = measured
		return r
	}

	var (
		unknown x509.UnknownAuthorityError
		invalid x509.CertificateInvalidError
		sysErr  x509.SystemRootsError
		r       check.Result
	)
	last := path[len(path)-1]
	switch {
	case errors.As(err, &sysErr):
		r = result(IDChain, FieldChain, check.Error,
			"The chain could not be checked: this machine's trusted root certificates could not be loaded.",
			"Install the ca-certificates package on this machine and try again.")
	case errors.As(err, &unknown) && isSelfSigned(last):
		r = result(IDChain, FieldChain, check.Warn,
			fmt.Sprintf("The chain ends at the root %q, which is not a publicly trusted root.", last.Subject.String()),
			"Browsers and CARTO's services will only accept it if they trust this private root; otherwise use a certificate from a public certificate authority.")
	case errors.As(err, &unknown):
		r = result(IDChain, FieldChain, check.Fail,
			fmt.Sprintf("The chain is incomplete: the intermediate certificate %q that issued %q is missing.",
				last.Issuer.String(), last.Subject.String()),
			fmt.Sprintf("Upload the full chain: add the certificate of %q from your certificate authority (for Let's Encrypt, upload fullchain.pem rather than cert.pem). Without it CARTO's services fail with UNABLE_TO_VERIFY_LEAF_SIGNATURE.", last.Issuer.String()))
		r.Required = "issuer " + last.Issuer.String()
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		r = result(IDChain, FieldChain, check.Fail,
			fmt.Sprintf("The certificate %q in the chain has expired or is not valid yet.", invalid.Cert.Subject.String()),
			"Download the current intermediate certificates from your certificate authority.")
	default:
		r = result(IDChain, FieldChain, check.Fail,
			fmt.Sprintf("The chain does not verify: %v.", err),
			"Upload the certificate with the intermediate certificates your certificate authority provided.")
	}
	r.Measured = measured
	return r
}

func chainNames(path []*x509.Certificate) string {
	names := make([]string, len(path))
	for i, c := range path {
		names[i] = c.Subject.CommonName
		if names[i] == "" {
			names[i] = c.Subject.String()
		}
	}
	return strings.Join(names, " → ")
}

// checkOrder compares the uploaded order with the leaf-first order nginx
// needs. A wrong order is fixed in the output rather than refused, so it
// passes with a message saying what was changed.
func checkOrder(all, path []*x509.Certificate, dups int, m *meter) check.Result {
	inPath := map[string]bool{}
	for _, c := range path {
		inPath[string(c.Raw)] = true
	}
	var kept []*x509.Certificate
	for _, c := range all {
		m.compares++
		if inPath[string(c.Raw)] {
			kept = append(kept, c)
		}
	}
	reordered := false
	for i := range kept {
		m.compares++
		if !kept[i].Equal(path[i]) {
			reordered = true
			break
		}
	}
	dropped := len(all) - len(path)
	var notes []string
	if reordered {
		notes = append(notes, "the certificates were out of order and have been put in order, the server certificate first and then each issuer")
	}
	if dropped > 0 {
		notes = append(notes, fmt.Sprintf("%d certificate(s) that are not part of this certificate's chain were left out", dropped))
	}
	if dups > 0 {
		notes = append(notes, fmt.Sprintf("%d duplicate certificate(s) were removed", dups))
	}
	var r check.Result
	if len(notes) == 0 {
		r = result(IDChainOrder, FieldChain, check.Pass, "The chain is in order.", "")
	} else {
		msg := strings.Join(notes, "; ")
		r = result(IDChainOrder, FieldChain, check.Pass, strings.ToUpper(msg[:1])+msg[1:]+".", "")
	}
	r.Measured = chainNames(path)
	return r
}
