package preflight

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/selfsigned"
	"github.com/google/go-cmp/cmp"
)

func TestEgressTargets(t *testing.T) {
	base := len(EgressTargets(Config{}))
	if base != 13 {
		t.Fatalf("default list has %d targets, want the 13 CARTO names", base)
	}
	if slices.Contains(EgressTargets(Config{}), "gcr.io:443") {
		t.Error("gcr.io is probed as egress; the registry checks (preflight.registry.<host>) ask it instead")
	}
	for _, want := range []string{"api.openai.com:443", "cloudresourcemanager.googleapis.com:443", "auth.carto.com:443", "pubsub.googleapis.com:443"} {
		if !slices.Contains(EgressTargets(Config{}), want) {
			t.Errorf("the default list lacks %s (CARTO's requirements page)", want)
		}
	}
	tests := []struct {
		name string
		cfg  Config
		want []string // targets after the default list
	}{
		{"carto-managed", Config{BucketProvider: BucketsCartoManaged}, nil},
		{"gcs is in the list already", Config{BucketProvider: BucketsGCS}, nil},
		{"s3 region", Config{BucketProvider: BucketsS3, S3Region: "eu-west-1"}, []string{"s3.eu-west-1.amazonaws.com:443"}},
		{"s3 without region", Config{BucketProvider: BucketsS3}, []string{"s3.amazonaws.com:443"}},
		{"s3-compatible https", Config{BucketProvider: BucketsS3, S3Endpoint: "https://minio.example.com:9000/"}, []string{"minio.example.com:9000"}},
		{"s3-compatible http", Config{BucketProvider: BucketsS3, S3Endpoint: "http://minio.example.com"}, []string{"http://minio.example.com:80"}},
		{"s3-compatible http with port", Config{BucketProvider: BucketsS3, S3Endpoint: "http://10.0.0.5:9000"}, []string{"http://10.0.0.5:9000"}},
		{"s3-compatible bare host", Config{BucketProvider: BucketsS3, S3Endpoint: "objects.example.com"}, []string{"objects.example.com:443"}},
		{"azure", Config{BucketProvider: BucketsAzure, AzureAccount: "cartoacct"}, []string{"cartoacct.blob.core.windows.net:443"}},
		{"azure without account", Config{BucketProvider: BucketsAzure}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EgressTargets(tt.cfg)
			if got[0] != "auth.carto.com:443" {
				t.Errorf("first target = %q, want auth.carto.com:443", got[0])
			}
			if diff := cmp.Diff(tt.want, got[base:], cmpEmpty); diff != "" {
				t.Errorf("extra targets mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

var cmpEmpty = cmp.Comparer(func(a, b []string) bool { return len(a) == 0 && len(b) == 0 || cmp.Equal(a, b) })

// tlsServer serves TLS for name on a loopback port and returns its
// address and a pool that trusts it.
func tlsServer(t *testing.T, name string) (string, *x509.CertPool) {
	t.Helper()
	certPEM, keyPEM, err := selfsigned.Generate(selfsigned.Request{CommonName: name, DNSNames: []string{name}, NotBefore: time.Now(), Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
			}()
		}
	}()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return l.Addr().String(), pool
}

// silentServer accepts TCP connections and never answers, as a firewall
// that lets the SYN through but drops the rest looks from here.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return l.Addr().String()
}

// dialTo sends every connection to addr, whatever name was asked for, so
// that the probe uses the CARTO-like name for SNI but only loopback is
// contacted.
func dialTo(addr string) func(context.Context, string, string) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
}

func TestProbeEgress(t *testing.T) {
	const host = "egress.example.test"
	good, pool := tlsServer(t, host)
	otherName, otherPool := tlsServer(t, "somewhere-else.test")
	silent := silentServer(t)
	closed := net.JoinHostPort("127.0.0.1", "1") // nothing listens on port 1
	notFound := func(context.Context, string, string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
	}
	tests := []struct {
		name         string
		deps         Deps
		wantStatus   check.Status
		wantMeasured string // prefix
	}{
		{"reachable", Deps{Dial: dialTo(good), RootCAs: pool}, check.Pass, "TCP and TLS to " + host + ":443 OK"},
		{"certificate from an unknown CA", Deps{Dial: dialTo(good), RootCAs: x509.NewCertPool()}, check.Fail, "TLS: certificate not trusted"},
		{"certificate for another name", Deps{Dial: dialTo(otherName), RootCAs: otherPool}, check.Fail, "TLS: certificate not trusted"},
		{"no TLS answer", Deps{Dial: dialTo(silent)}, check.Fail, "TLS: no handshake within"},
		{"connection refused", Deps{Dial: dialTo(closed)}, check.Fail, "connect: refused"},
		{"does not resolve", Deps{Dial: notFound}, check.Fail, "DNS: " + host + " does not resolve"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := probeEgress(context.Background(), tt.deps, host+":443", 500*time.Millisecond)
			if r.ID != "preflight.egress."+host {
				t.Errorf("ID = %q", r.ID)
			}
			if r.Status != tt.wantStatus || !strings.HasPrefix(r.Measured, tt.wantMeasured) {
				t.Errorf("probeEgress() = %s %q, want %s %q", r.Status, r.Measured, tt.wantStatus, tt.wantMeasured)
			}
			assertComplete(t, r)
		})
	}
}

// TestEgressLive probes the real CARTO endpoints with the real dialer. The
// project machines have no internet, so each must fail and say at which
// stage; with internet, each may pass. Either way every probe ends with a
// well-formed result rather than hanging.
func TestEgressLive(t *testing.T) {
	deps := DefaultDeps(os.Getenv)
	rs := checkEgress(context.Background(), deps, Config{EgressTimeout: 2 * time.Second})
	if len(rs) != 13 {
		t.Fatalf("got %d results, want 13", len(rs))
	}
	for _, r := range rs {
		t.Logf("%s: %s: %s", r.ID, r.Status, r.Measured)
		assertComplete(t, r)
		switch r.Status {
		case check.Pass:
		case check.Fail:
			if !strings.HasPrefix(r.Measured, "DNS:") && !strings.HasPrefix(r.Measured, "connect:") && !strings.HasPrefix(r.Measured, "TLS:") {
				t.Errorf("%s measured %q does not name the failing stage", r.ID, r.Measured)
			}
		default:
			t.Errorf("%s status %s, want pass or fail", r.ID, r.Status)
		}
	}
}

// TestProbeEgressPlainHTTP probes an http:// S3-compatible endpoint (a
// real plain HTTP server): without TLS it passes, while the TLS probe the
// same server got before fails its handshake.
func TestProbeEgressPlainHTTP(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	targets := EgressTargets(Config{BucketProvider: BucketsS3, S3Endpoint: srv.URL})
	target := targets[len(targets)-1]
	if target != "http://"+addr {
		t.Fatalf("target %q, want http://%s", target, addr)
	}
	deps := Deps{Dial: (&net.Dialer{}).DialContext}
	r := probeEgress(context.Background(), deps, target, 2*time.Second)
	if r.Status != check.Pass || !strings.Contains(r.Measured, "no TLS") {
		t.Errorf("plain probe = %s %q, want a pass without TLS", r.Status, r.Measured)
	}
	assertComplete(t, r)
	if r := probeEgress(context.Background(), deps, addr, 2*time.Second); r.Status != check.Fail || !strings.HasPrefix(r.Measured, "TLS:") {
		t.Errorf("TLS probe of a plain server = %s %q, want a TLS failure", r.Status, r.Measured)
	}
}
