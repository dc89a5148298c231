package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/carto-setup/carto-setup/internal/selfsigned"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// TestTLSSelfSigned generates the router certificate: the wizard shows its
// fingerprint, and the certificate downloaded through the page's link is
// the one saved, with that fingerprint.
func TestTLSSelfSigned(t *testing.T) {
	w := walkToTLSStep(t, nil)
	Choose(t, w.ctx, "tls_mode", wizard.TLSSelfSigned)
	Submit(t, w.ctx, `button[value="next"]`)
	tlsWantStep(t, w.ctx, "buckets")

	st := w.state(t)
	if st.TLS.Mode != wizard.TLSSelfSigned || st.TLS.CertPEM == "" || st.TLS.Fingerprint == "" {
		t.Fatalf("saved TLS state: mode %q, certificate %d bytes, fingerprint %q", st.TLS.Mode, len(st.TLS.CertPEM), st.TLS.Fingerprint)
	}
	leaf := firstCert(t, []byte(st.TLS.CertPEM))
	if leaf.Issuer.String() != leaf.Subject.String() || !slicesContain(leaf.DNSNames, tlsDomain) {
		t.Errorf("the certificate is not self-signed for %s: issuer %q, names %v", tlsDomain, leaf.Issuer, leaf.DNSNames)
	}

	Navigate(t, w.ctx, w.app.BaseURL+"/steps/tls")
	if got := Text(t, w.ctx, "#fingerprint"); got != st.TLS.Fingerprint || got != selfsigned.Fingerprint(leaf.Raw) {
		t.Errorf("page fingerprint %q; saved %q; computed %q", got, st.TLS.Fingerprint, selfsigned.Fingerprint(leaf.Raw))
	}
	got := download(t, w.ctx, `#current-cert a[download]`)
	if string(got) != st.TLS.CertPEM {
		t.Fatalf("the downloaded certificate differs from the saved one:\n%s", got)
	}
	if fp := selfsigned.Fingerprint(firstCert(t, got).Raw); fp != st.TLS.Fingerprint {
		t.Errorf("downloaded certificate fingerprint %s, page shows %s", fp, st.TLS.Fingerprint)
	}
	if strings.Contains(string(got), "PRIVATE KEY") {
		t.Error("the download contains the private key")
	}
}

// TestTLSUpload uploads one case of the certificate corpus that must be
// refused (its names do not cover the domain: the message shows next to
// the certificate field and in the checks, and the saved certificate is
// untouched), then a good chain and key from a private CA, which is
// accepted and saved.
func TestTLSUpload(t *testing.T) {
	w := walkToTLSStep(t, nil)
	pki := newPrivatePKI(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// A certificate for another name.
	wrongCert, wrongKey := pki.leaf(t, "other.example.com")
	Choose(t, w.ctx, "tls_mode", wizard.TLSUpload)
	Upload(t, w.ctx, "cert", write("wrong.crt", wrongCert))
	Upload(t, w.ctx, "chain", write("chain.crt", pki.chainPEM))
	Upload(t, w.ctx, "key", write("wrong.key", wrongKey))
	Submit(t, w.ctx, `button[value="next"]`)
	tlsWantStep(t, w.ctx, "tls")
	const sanMsg = "The certificate's names do not cover " + tlsDomain + "."
	if statuses := tlsCheckStatuses(t, w.ctx); statuses["tls.san"] != "fail" {
		t.Errorf("tls.san check = %q, want fail (all: %v)", statuses["tls.san"], statuses)
	}
	if row := Text(t, w.ctx, `#check-results tr[data-check="tls.san"]`); !strings.Contains(row, sanMsg) {
		t.Errorf("the SAN check says %q, want %q", row, sanMsg)
	}
	fieldMsg := Get(t, w.ctx, "certificate field error", chromedp.Evaluate[string](
		`(function(){ var e = document.getElementById("e-cert"); var i = document.getElementById("f-cert");
		  return e && i && i.getAttribute("aria-invalid") === "true" && i.getAttribute("aria-describedby") === "e-cert" ? e.textContent : "" })()`))
	if !strings.Contains(fieldMsg, sanMsg) {
		t.Errorf("next to the certificate field: %q, want %q with aria-invalid and aria-describedby", fieldMsg, sanMsg)
	}
	tlsNoSecret(t, w.ctx, strings.TrimSpace(pemBody(wrongKey)))

	// The good chain and key.
	goodCert, goodKey := pki.leaf(t, tlsDomain)
	Navigate(t, w.ctx, w.app.BaseURL+"/steps/tls")
	Choose(t, w.ctx, "tls_mode", wizard.TLSUpload)
	Upload(t, w.ctx, "cert", write("good.crt", goodCert))
	Upload(t, w.ctx, "chain", write("chain.crt", pki.chainPEM))
	Upload(t, w.ctx, "key", write("good.key", goodKey))
	Submit(t, w.ctx, `button[value="next"]`)
	// Saved; its warning (a private root) is shown before going on.
	if loc := Location(t, w.ctx); !strings.HasSuffix(loc, "/steps/tls?saved=warnings") {
		t.Fatalf("after a good upload with a warning: %s", loc)
	}
	if statuses := tlsCheckStatuses(t, w.ctx); statuses["tls.chain"] != "warn" {
		t.Errorf("the private root's warning is not shown: %v", statuses)
	}
	Submit(t, w.ctx, "#tls-next")
	tlsWantStep(t, w.ctx, "buckets")

	st := w.state(t)
	leaf := firstCert(t, goodCert)
	if st.TLS.Mode != wizard.TLSUpload || st.TLS.Fingerprint != selfsigned.Fingerprint(leaf.Raw) || st.TLS.KeyPEM == "" {
		t.Fatalf("saved TLS state: mode %q, fingerprint %q, want the uploaded certificate's %q", st.TLS.Mode, st.TLS.Fingerprint, selfsigned.Fingerprint(leaf.Raw))
	}
	if got := len(certsIn(t, []byte(st.TLS.CertPEM))); got != 3 {
		t.Errorf("the saved chain has %d certificates, want leaf, intermediate and root", got)
	}
	Navigate(t, w.ctx, w.app.BaseURL+"/steps/tls")
	if got := Text(t, w.ctx, "#fingerprint"); got != st.TLS.Fingerprint {
		t.Errorf("page fingerprint %q, want %q", got, st.TLS.Fingerprint)
	}
}

// TestTLSACME obtains the certificate from Pebble running in the test: its
// validation resolves the domain with the test's DNS server and fetches the
// challenge from the wizard's port-80 listener on a loopback port. The
// terms must be accepted explicitly; the issued certificate, from Pebble's
// intermediate, is saved and its fingerprint shown.
func TestTLSACME(t *testing.T) {
	port := tlsFreePort(t)
	dnsAddr := startTLSDNS(t, tlsDomain)
	pebble := startE2EPebble(t, port, dnsAddr)
	w := walkToTLSStep(t, &tlsWalk{resolver: dnsAddr, args: []string{
		"--http-addr", "127.0.0.1:" + strconv.Itoa(port),
		"--acme-directory", pebble.directoryURL,
		"--acme-ca-file", pebble.caFile,
	}})

	// The terms are not accepted: nothing is ordered.
	Choose(t, w.ctx, "tls_mode", wizard.TLSACME)
	Fill(t, w.ctx, "acme_email", "admin@example.com")
	SetChecked(t, w.ctx, "acme_tos", false)
	Submit(t, w.ctx, `button[value="next"]`)
	tlsWantStep(t, w.ctx, "tls")
	if got := Text(t, w.ctx, "#e-acme_tos"); !strings.Contains(got, "terms of service") {
		t.Errorf("next to the terms checkbox: %q", got)
	}
	if n := pebble.orders(); n != 0 {
		t.Errorf("%d orders reached Pebble before the terms were accepted", n)
	}

	// Let's Encrypt (here Pebble), terms accepted.
	Choose(t, w.ctx, "tls_mode", wizard.TLSACME)
	if v := Get(t, w.ctx, "directory", chromedp.Value(chromedp.CSS(`[name="acme_directory"]`))); v != pebble.directoryURL {
		t.Errorf("the directory offered is %q, want the --acme-directory %q", v, pebble.directoryURL)
	}
	Fill(t, w.ctx, "acme_email", "admin@example.com")
	SetChecked(t, w.ctx, "acme_tos", true)
	Submit(t, w.ctx, `button[value="next"]`)

	// Pebble's root is not a public one, so the chain check fails and asks
	// for a reason, exactly as it would for a private ACME server. Nothing
	// is saved yet; the certificate obtained is kept for the form, and
	// continuing with the reason uses it instead of ordering another.
	if strings.HasSuffix(Location(t, w.ctx), "/steps/tls") {
		if st := w.state(t); st.TLS.Mode == wizard.TLSACME {
			t.Errorf("a Continue that needs a reason saved the certificate")
		}
		if notice := Text(t, w.ctx, "#notice"); !strings.Contains(notice, "obtained and is kept") {
			t.Errorf("the page does not say the certificate is kept: %q", notice)
		}
		orders := pebble.orders()
		Choose(t, w.ctx, "tls_mode", wizard.TLSACME)
		SetChecked(t, w.ctx, "acme_tos", true)
		FillOverrides(t, w.ctx, "e2e: Pebble's root is private")
		Submit(t, w.ctx, `button[value="next"]`)
		if n := pebble.orders(); n != orders {
			t.Errorf("continuing with the reason ordered %d more certificate(s)", n-orders)
		}
	}
	st := w.state(t)
	if st.TLS.Mode != wizard.TLSACME || st.TLS.CertPEM == "" {
		t.Fatalf("no ACME certificate saved (mode %q); page: %s", st.TLS.Mode, pageText(w.ctx))
	}
	leaf := firstCert(t, []byte(st.TLS.CertPEM))
	if !strings.HasPrefix(leaf.Issuer.CommonName, "Pebble Intermediate CA") {
		t.Errorf("issuer %q, want Pebble's intermediate", leaf.Issuer)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: tlsDomain, Roots: pebble.roots, Intermediates: pool(certsIn(t, []byte(st.TLS.CertPEM))[1:])}); err != nil {
		t.Errorf("the saved chain does not verify against Pebble's root for %s: %v", tlsDomain, err)
	}
	if st.TLS.Fingerprint != selfsigned.Fingerprint(leaf.Raw) || st.TLS.ACMEEmail != "admin@example.com" ||
		st.TLS.ACMEDirectory != pebble.directoryURL || st.TLS.ACMEAccount == "" {
		t.Errorf("saved ACME settings: fingerprint %q (want %q), e-mail %q, directory %q, account key saved %v",
			st.TLS.Fingerprint, selfsigned.Fingerprint(leaf.Raw), st.TLS.ACMEEmail, st.TLS.ACMEDirectory, st.TLS.ACMEAccount != "")
	}
	tlsNoSecret(t, w.ctx, strings.TrimSpace(pemBody([]byte(st.TLS.KeyPEM))))

	tlsWantStep(t, w.ctx, "buckets")
	Navigate(t, w.ctx, w.app.BaseURL+"/steps/tls")
	if got := Text(t, w.ctx, "#fingerprint"); got != st.TLS.Fingerprint {
		t.Errorf("page fingerprint %q, want the saved %q", got, st.TLS.Fingerprint)
	}
	if got := firstCert(t, download(t, w.ctx, `#current-cert a[download]`)); !strings.HasPrefix(got.Issuer.CommonName, "Pebble Intermediate CA") {
		t.Errorf("downloaded certificate issuer %q, want Pebble's", got.Issuer)
	}
}

// download clicks a download link and returns the file the browser saved.
func download(t *testing.T, ctx context.Context, link string) []byte {
	t.Helper()
	dir := t.TempDir()
	ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	progress := chromedp.Events(ectx, browser.DownloadProgress)
	Run(t, ctx, "allow downloads", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		eventsOn := true
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &eventsOn,
		})
		return err
	}))
	Run(t, ctx, "click "+link, chromedp.Click(chromedp.CSS(link)))
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("waiting for the download of %s: %v", link, err)
		}
		switch ev.State {
		case browser.DownloadProgressStateCompleted:
			b, err := os.ReadFile(filepath.Join(dir, ev.GUID))
			if err != nil {
				t.Fatal(err)
			}
			return b
		case browser.DownloadProgressStateCanceled:
			t.Fatalf("the download of %s was cancelled", link)
		}
	}
	t.Fatalf("no download from %s", link)
	return nil
}

// privatePKI is a private root and intermediate CA, as a company's own PKI
// would issue the router certificate.
type privatePKI struct {
	interCert *x509.Certificate
	interKey  *ecdsa.PrivateKey
	chainPEM  []byte // intermediate, then root
}

func newPrivatePKI(t *testing.T) *privatePKI {
	t.Helper()
	now := time.Now()
	rootKey := newKey(t)
	rootTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "carto-setup e2e Root CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	interKey := newKey(t)
	interTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "carto-setup e2e Intermediate CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(5 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	interDER, err := x509.CreateCertificate(rand.Reader, interTmpl, root, &interKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	inter, _ := x509.ParseCertificate(interDER)
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: interDER}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER})...)
	return &privatePKI{interCert: inter, interKey: interKey, chainPEM: chain}
}

// leaf issues a server certificate for name and returns it and its key as
// PEM.
func (p *privatePKI) leaf(t *testing.T, name string) (certPEM, keyPEM []byte) {
	t.Helper()
	key := newKey(t)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.interCert, &key.PublicKey, p.interKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func certsIn(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return out
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

func firstCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	certs := certsIn(t, data)
	if len(certs) == 0 {
		t.Fatalf("no PEM certificate in %q", data)
	}
	return certs[0]
}

func pool(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// pemBody returns the base64 lines of the first PEM block, which must never
// appear in a page.
func pemBody(data []byte) string {
	s := string(data)
	if i := strings.Index(s, "-----\n"); i >= 0 {
		s = s[i+6:]
	}
	if i := strings.Index(s, "\n"); i >= 0 {
		s = s[:i]
	}
	return s
}

func slicesContain(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
