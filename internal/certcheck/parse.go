package certcheck

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/carto-setup/carto-setup/internal/check"
)

// The commands the hints offer. They are spelled out once so every message
// that needs one gives the same, tested text.
const (
	cmdCertFromDER  = "openssl x509 -inform der -in cert.der -out cert.pem"
	cmdCertFromP7B  = "openssl pkcs7 -print_certs -in cert.p7b -out cert.pem"
	cmdCertFromPFX  = "openssl pkcs12 -in cert.pfx -nokeys -out cert.pem"
	cmdKeyFromDER   = "openssl pkey -inform der -in key.der -out key.pem"
	cmdKeyFromPFX   = "openssl pkcs12 -in cert.pfx -nocerts -nodes -out key.pem"
	cmdRemovePassRS = "openssl rsa -in keyfile_with_passphrase.key -out new_keyfile.key"
	cmdRemovePassEC = "openssl ec -in keyfile_with_passphrase.key -out new_keyfile.key"
	cmdRemovePassP8 = "openssl pkey -in keyfile_with_passphrase.key -out new_keyfile.key"
)

// isKeyBlock reports whether a PEM block type holds a private key.
func isKeyBlock(typ string) bool {
	switch typ {
	case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "OPENSSH PRIVATE KEY":
		return true
	}
	return false
}

// parseCerts reads the certificates of one upload field. It returns nil
// certificates and a failing result when the field cannot be used; an empty
// field is reported only when required is set.
func parseCerts(id, field string, data []byte, required bool, m *meter) ([]*x509.Certificate, check.Result) {
	what := "certificate"
	if field == FieldChain {
		what = "chain"
	}
	if len(bytes.TrimSpace(data)) == 0 {
		if !required {
			return nil, result(id, field, check.Pass, "No separate chain was uploaded.", "")
		}
		return nil, result(id, field, check.Fail, "No certificate was uploaded.",
			"Upload the certificate file for your domain (PEM, starting with -----BEGIN CERTIFICATE-----).")
	}
	if !bytes.Contains(data, []byte("-----BEGIN")) {
		m.scanned += len(data)
		if firstDERCertificate(data, m) {
			r := result(id, field, check.Fail,
				fmt.Sprintf("The %s is in binary DER format; nginx needs PEM.", what),
				"Convert it to PEM with: "+cmdCertFromDER)
			r.Measured = "DER"
			r.Required = "PEM"
			return nil, r
		}
		if _, err := parseDERKey(data, m); err == nil {
			return nil, result(id, field, check.Fail,
				fmt.Sprintf("The %s field holds a private key, not a certificate.", what),
				"Upload the key in the key field and the certificate here.")
		}
		return nil, notPEM(id, field, what)
	}
	var certs []*x509.Certificate
	blocks := pemBlocks(data, m)
	if len(blocks) > MaxPEMBlocks {
		r := result(id, field, check.Fail,
			fmt.Sprintf("The %s file holds more than %d PEM blocks; a certificate chain has a handful (the server certificate and one to three intermediates).", what, MaxPEMBlocks),
			"Upload only the server certificate and the intermediates your certificate authority sent (for Let's Encrypt, fullchain.pem).")
		r.Measured, r.Required = fmt.Sprintf("more than %d PEM blocks", MaxPEMBlocks), fmt.Sprintf("at most %d", MaxPEMBlocks)
		return nil, r
	}
	for _, block := range blocks {
		switch {
		case block.Type == "CERTIFICATE":
			m.parsed += len(block.Bytes)
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, result(id, field, check.Fail,
					fmt.Sprintf("Certificate %d in the %s cannot be read: %v.", len(certs)+1, what, err),
					"Upload the certificate exactly as your certificate authority issued it.")
			}
			certs = append(certs, c)
		case block.Type == "PKCS7":
			return nil, result(id, field, check.Fail,
				fmt.Sprintf("The %s is a PKCS#7 bundle; nginx needs plain PEM certificates.", what),
				"Extract the certificates with: "+cmdCertFromP7B)
		case isKeyBlock(block.Type):
			return nil, result(id, field, check.Fail,
				fmt.Sprintf("The %s field holds a private key; it must not be uploaded here.", what),
				"Upload the key in the key field and only certificates here.")
		}
	}
	if len(certs) == 0 {
		return nil, notPEM(id, field, what)
	}
	msg := fmt.Sprintf("The %s is PEM with %d certificate(s).", what, len(certs))
	return certs, result(id, field, check.Pass, msg, "")
}

func notPEM(id, field, what string) check.Result {
	r := result(id, field, check.Fail,
		fmt.Sprintf("The %s is not a PEM certificate.", what),
		"A PEM certificate is text starting with -----BEGIN CERTIFICATE-----. "+
			"Convert a binary .der/.cer file with: "+cmdCertFromDER+
			"; a .pfx/.p12 bundle with: "+cmdCertFromPFX)
	r.Required = "PEM"
	return r
}

// parsedKey is the private key of the upload with the bytes to hand to nginx.
type parsedKey struct {
	signer crypto.Signer
	pem    []byte
}

// parseKey reads the private key field. It returns the results of the PEM and
// passphrase checks, and a nil key when either failed.
func parseKey(data []byte, m *meter) (*parsedKey, []check.Result) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, []check.Result{result(IDKeyPEM, FieldKey, check.Fail, "No private key was uploaded.",
			"Upload the private key that was generated with the certificate request (PEM, starting with -----BEGIN PRIVATE KEY-----).")}
	}
	if !bytes.Contains(data, []byte("-----BEGIN")) {
		m.scanned += len(data)
		if _, err := parseDERKey(data, m); err == nil {
			r := result(IDKeyPEM, FieldKey, check.Fail, "The private key is in binary DER format; nginx needs PEM.",
				"Convert it to PEM with: "+cmdKeyFromDER)
			r.Measured, r.Required = "DER", "PEM"
			return nil, []check.Result{r}
		}
		if firstDERCertificate(data, m) {
			return nil, []check.Result{result(IDKeyPEM, FieldKey, check.Fail,
				"The key field holds a certificate, not a private key.",
				"Upload the certificate in the certificate field and the private key here.")}
		}
		return nil, []check.Result{keyNotPEM()}
	}

	var (
		keyBlock *pem.Block
		others   int
		sawCert  bool
	)
	blocks := pemBlocks(data, m)
	if len(blocks) > MaxPEMBlocks {
		r := result(IDKeyPEM, FieldKey, check.Fail,
			fmt.Sprintf("The key file holds more than %d PEM blocks; it should hold the private key alone.", MaxPEMBlocks),
			"Upload only the private key that was generated with the certificate request.")
		r.Measured, r.Required = fmt.Sprintf("more than %d PEM blocks", MaxPEMBlocks), "one private key"
		return nil, []check.Result{r}
	}
	for _, block := range blocks {
		switch {
		case isKeyBlock(block.Type) && keyBlock == nil:
			keyBlock = block
		case block.Type == "EC PARAMETERS":
			// openssl ecparam -genkey writes these before the key; nginx
			// ignores them, so they do not make the file unusable.
		case block.Type == "CERTIFICATE":
			sawCert = true
			others++
		default:
			others++
		}
	}
	if keyBlock == nil {
		if sawCert {
			return nil, []check.Result{result(IDKeyPEM, FieldKey, check.Fail,
				"The key field holds a certificate, not a private key.",
				"Upload the certificate in the certificate field and the private key here.")}
		}
		return nil, []check.Result{keyNotPEM()}
	}

	pemOK := result(IDKeyPEM, FieldKey, check.Pass, "The private key is PEM.", "")
	if hint, ok := encryptedHint(keyBlock); ok {
		r := result(IDKeyPassphrase, FieldKey, check.Fail,
			"The private key is protected by a passphrase; nginx in CARTO's router cannot use it.",
			"Remove the passphrase (you will be asked for it once) and upload the new file: "+hint)
		r.Measured, r.Required = "encrypted", "no passphrase"
		return nil, []check.Result{pemOK, r}
	}
	if keyBlock.Type == "OPENSSH PRIVATE KEY" {
		return nil, []check.Result{result(IDKeyPEM, FieldKey, check.Fail,
			"The private key is in OpenSSH format, which nginx cannot read.",
			"Upload the key in PEM (PKCS#8) format, as generated with the certificate request.")}
	}
	m.parsed += len(keyBlock.Bytes)
	signer, err := parseKeyBlock(keyBlock)
	if err != nil {
		return nil, []check.Result{result(IDKeyPEM, FieldKey, check.Fail,
			fmt.Sprintf("The private key cannot be read: %v.", err),
			"Upload the private key exactly as it was generated with the certificate request.")}
	}
	out := data
	if others > 0 {
		// Only the key goes to nginx's key file: keep the user's bytes when
		// the file holds nothing else, otherwise write the key block alone.
		out = pem.EncodeToMemory(keyBlock)
	}
	pass := result(IDKeyPassphrase, FieldKey, check.Pass, "The private key is not protected by a passphrase.", "")
	return &parsedKey{signer: signer, pem: out}, []check.Result{pemOK, pass}
}

func keyNotPEM() check.Result {
	r := result(IDKeyPEM, FieldKey, check.Fail, "The private key is not a PEM key.",
		"A PEM key is text starting with -----BEGIN PRIVATE KEY----- (or RSA/EC PRIVATE KEY). "+
			"Convert a binary key with: "+cmdKeyFromDER+"; extract it from a .pfx/.p12 bundle with: "+cmdKeyFromPFX)
	r.Required = "PEM"
	return r
}

// encryptedHint reports whether a key block is passphrase-protected and, if
// so, the command that removes the passphrase for its format.
func encryptedHint(block *pem.Block) (string, bool) {
	if block.Type == "ENCRYPTED PRIVATE KEY" {
		return cmdRemovePassRS + " (for an EC key: " + cmdRemovePassP8 + ")", true
	}
	if !strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") {
		return "", false
	}
	if block.Type == "EC PRIVATE KEY" {
		return cmdRemovePassEC, true
	}
	return cmdRemovePassRS, true
}

func parseKeyBlock(block *pem.Block) (crypto.Signer, error) {
	var (
		key any
		err error
	)
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported key type %T", key)
	}
	return signer, nil
}

func parseDERKey(der []byte, m *meter) (any, error) {
	m.parsed += 3 * len(der) // up to three attempts
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	return x509.ParseECPrivateKey(der)
}

func result(id, field string, status check.Status, msg, hint string) check.Result {
	return check.Result{Step: Step, ID: id, Status: status, Message: msg, Hint: hint, Field: field}
}

// pemBlocks decodes the PEM blocks of data, at most MaxPEMBlocks+1 of them:
// one more than allowed is enough to refuse the field, and whatever follows
// is never read. Text around and between blocks is skipped, as nginx and
// openssl skip it.
func pemBlocks(data []byte, m *meter) []*pem.Block {
	var blocks []*pem.Block
	rest := data
	for len(blocks) <= MaxPEMBlocks {
		before := len(rest)
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			m.scanned += before
			break
		}
		m.scanned += before - len(rest)
		blocks = append(blocks, block)
	}
	return blocks
}

// firstDERCertificate reports whether data starts with a DER certificate.
// Only the first ASN.1 element is parsed, however many follow.
func firstDERCertificate(data []byte, m *meter) bool {
	var raw asn1.RawValue
	if _, err := asn1.Unmarshal(data, &raw); err != nil {
		return false
	}
	m.parsed += len(raw.FullBytes)
	_, err := x509.ParseCertificate(raw.FullBytes)
	return err == nil
}
