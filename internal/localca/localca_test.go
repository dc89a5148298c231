package localca

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"
)

// TestIssueAndVerify serves a leaf over real TLS on loopback and checks
// that a client trusting only the CA verifies it for its IP and name, and
// that the CA read back with Load issues certificates the same pool trusts.
func TestIssueAndVerify(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ca, err := New("localca test", now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Load(ca.PEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.PEM)
	for name, issuer := range map[string]*CA{"new": ca, "loaded": again} {
		certPEM, leafKey, err := issuer.Issue(Leaf{Hosts: []string{"127.0.0.1", "db.test"}})
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(certPEM, leafKey)
		if err != nil {
			t.Fatal(err)
		}
		l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			c, err := l.Accept()
			if err == nil {
				c.(*tls.Conn).Handshake()
				c.Close()
			}
		}()
		c, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		if err != nil {
			t.Errorf("%s: a client trusting the CA refuses its leaf: %v", name, err)
		} else {
			c.Close()
		}
		l.Close()
		b, _ := pem.Decode(certPEM)
		leaf, _ := x509.ParseCertificate(b.Bytes)
		if err := leaf.VerifyHostname("db.test"); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if err := leaf.VerifyHostname("other.test"); err == nil {
			t.Errorf("%s: the leaf covers a name it was not issued for", name)
		}
	}
	if _, err := Load(ca.PEM, mustKey(t)); err == nil {
		t.Error("Load accepted a key that is not the CA's")
	}
	if _, err := Load([]byte("junk"), keyPEM); err == nil {
		t.Error("Load accepted junk")
	}
}

func TestLeafDates(t *testing.T) {
	t.Parallel()
	ca, err := New("dates", time.Now().Add(-48*time.Hour), time.Now().Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	certPEM, _, err := ca.Issue(Leaf{Hosts: []string{"x.test"}, NotBefore: past.Add(-time.Hour), NotAfter: past, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(certPEM)
	leaf, _ := x509.ParseCertificate(b.Bytes)
	if !leaf.NotAfter.Before(time.Now()) || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("leaf %v %v, want expired client certificate", leaf.NotAfter, leaf.ExtKeyUsage)
	}
	if len(leaf.IPAddresses) != 0 || leaf.DNSNames[0] != "x.test" {
		t.Errorf("IP SANs %v for a DNS-only leaf", leaf.IPAddresses)
	}
}

func mustKey(t *testing.T) []byte {
	t.Helper()
	other, err := New("other", time.Now(), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	k, err := other.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
