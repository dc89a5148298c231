package steps

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/buckets"
	"github.com/carto-setup/carto-setup/internal/certcheck"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/domaincheck"
	"github.com/carto-setup/carto-setup/internal/testenv"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

func certNames(t *testing.T, certPEM string) []string {
	t.Helper()
	b, _ := pem.Decode([]byte(certPEM))
	if b == nil {
		t.Fatal("no certificate")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.DNSNames
}

// installed returns steps over a state that went through every step and
// was installed with domain and a router certificate of mode.
func installed(t *testing.T, now time.Time, mode, domain string) (*Steps, *wizard.MemStore) {
	t.Helper()
	certPEM, keyPEM, fp, err := certcheck.SelfSigned(domain, now)
	if err != nil {
		t.Fatal(err)
	}
	st := wizard.State{
		Domain:  wizard.DomainInput{Domain: domain},
		TLS:     wizard.TLSInput{Mode: mode, CertPEM: string(certPEM), KeyPEM: string(keyPEM), Fingerprint: fp},
		Buckets: BucketsDefaults(),
		Checks:  map[wizard.Step]wizard.CheckRun{wizard.Domain: wizard.NewCheckRun(now, []check.Result{{Step: "domain", ID: "domain.resolves", Status: check.Pass}})},
	}
	for _, s := range wizard.Steps {
		st.MarkDone(s)
	}
	st.RecordInstall(st, now, "2026.8.11")
	store := wizard.NewMemStore(st)
	return New(Deps{Now: func() time.Time { return now }, Domain: &fakeDomain{}}, store), store
}

// TestDomainChangeFollowsTLS changes the domain after an install with each
// kind of router certificate: the TLS step is re-derived in the same save,
// and the domain, TLS, Review, Install and Smoke are out of date.
func TestDomainChangeFollowsTLS(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 8, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		mode     string
		tlsDone  bool
		newNames bool // the state holds a certificate for the new name
	}{
		{wizard.TLSSelfSigned, true, true},
		{wizard.TLSUpload, false, false},
		{wizard.TLSACME, false, false},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			s, _ := installed(t, now, tc.mode, "carto.example.com")
			out, err := s.Continuing(nil).Domain(context.Background(), DomainForm{Domain: "carto2.example.com"})
			if err != nil || out.Refused() {
				t.Fatalf("domain change: %v %v", err, out.Errors)
			}
			st := out.State
			if got := certNames(t, st.TLS.CertPEM); (got[0] == "carto2.example.com") != tc.newNames {
				t.Errorf("certificate names %v after the change", got)
			}
			if st.Done[wizard.TLS] != tc.tlsDone {
				t.Errorf("TLS done = %v, want %v; run %+v", st.Done[wizard.TLS], tc.tlsDone, st.Checks[wizard.TLS])
			}
			if tc.mode == wizard.TLSUpload {
				if r := find(st.Checks[wizard.TLS], certcheck.IDSAN); r.Status != check.Fail || !r.Fixed {
					t.Errorf("an upload that does not cover the new name: tls.san %+v, want a fixed failure", r)
				}
			}
			for _, step := range []wizard.Step{wizard.Domain, wizard.Review, wizard.Install, wizard.Smoke} {
				if !st.ChangedSinceInstall(step) {
					t.Errorf("%s not marked changed since install", step)
				}
			}
			if st.ChangedSinceInstall(wizard.Database) || st.ChangedSinceInstall(wizard.Buckets) {
				t.Error("steps whose input did not change are marked")
			}
			if tc.mode == wizard.TLSSelfSigned && !st.ChangedSinceInstall(wizard.TLS) {
				t.Error("a remade certificate does not mark the TLS step")
			}
		})
	}
}

func find(run wizard.CheckRun, id string) wizard.StoredResult {
	for _, r := range run.Results {
		if r.ID == id {
			return r
		}
	}
	return wizard.StoredResult{}
}

// TestRefusedSubmitSavesNothing: with Continuing, a submission whose checks
// need a reason that was not given is refused and leaves the state as it
// was; with Testing, a failed test does too; a passing one is saved.
func TestRefusedSubmitSavesNothing(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 8, 1, 10, 0, 0, 0, time.UTC)
	s, store := installed(t, now, wizard.TLSSelfSigned, "carto.example.com")
	before, _ := store.Load()

	for name, s := range map[string]*Steps{"continue": s.Continuing(nil), "test": s.Testing()} {
		out, err := s.Domain(context.Background(), DomainForm{Domain: "carto.other.test"})
		if err != nil {
			t.Fatal(err)
		}
		if !out.Refused() || len(out.Run.Results) == 0 {
			t.Fatalf("%s: a failing domain was not refused with its run: %+v", name, out)
		}
		after, _ := store.Load()
		if after.Revision != before.Revision || after.Domain != before.Domain || after.TLS != before.TLS {
			t.Fatalf("%s: the refused submit changed the state: %+v", name, after.Domain)
		}
	}
	out, err := s.Continuing(map[string]string{"domain.resolves": "DNS tonight"}).Domain(context.Background(), DomainForm{Domain: "carto.other.test"})
	if err != nil || out.Refused() || !out.State.Done[wizard.Domain] {
		t.Fatalf("with a reason: %v %+v", err, out.Errors)
	}
	out, err = s.Testing().Domain(context.Background(), DomainForm{Domain: "carto.example.com"})
	if err != nil || out.Refused() || out.State.Domain.Domain != "carto.example.com" {
		t.Fatalf("a passing test was not saved: %v %+v", err, out.Errors)
	}
	// Back at the installed domain: the override for the other name's
	// failure is gone, and nothing is out of date but the remade
	// certificate.
	if _, ok := out.State.Overridden("domain.resolves"); ok {
		t.Error("the override of a check that now passes is kept")
	}
}

// TestBucketsSwitchDropsSecrets: leaving S3 for CARTO-managed buckets
// drops the S3 secret from the state, so no export carries it.
func TestBucketsSwitchDropsSecrets(t *testing.T) {
	t.Parallel()
	pass := BucketsFunc(func(context.Context, buckets.Config) []check.Result { return nil })
	s := New(Deps{Buckets: pass}, wizard.NewMemStore(wizard.State{}))
	in := wizard.BucketsInput{Mode: wizard.BucketsS3, Imports: wizard.BucketInput{Name: "imp"}, Thumbnails: wizard.BucketInput{Name: "thu", Public: true},
		S3Region: "eu-west-1", S3AccessKeyID: "AKIA", S3SecretAccessKey: "s3-Secret-value", GCSKeyJSON: "{}", AzureAccessKey: "az"}
	out, err := s.Buckets(context.Background(), BucketsForm{BucketsInput: in})
	if err != nil || out.Refused() {
		t.Fatalf("S3: %v %+v", err, out.Errors)
	}
	if b := out.State.Buckets; b.S3SecretAccessKey != "s3-Secret-value" || b.GCSKeyJSON != "" || b.AzureAccessKey != "" {
		t.Fatalf("S3 keeps other providers' keys: %+v", b)
	}
	in.Mode = wizard.BucketsCartoManaged
	out, err = s.Buckets(context.Background(), BucketsForm{BucketsInput: in})
	if err != nil || out.Refused() {
		t.Fatalf("CARTO-managed: %v %+v", err, out.Errors)
	}
	for _, v := range out.State.Secrets() {
		if v == "s3-Secret-value" {
			t.Fatal("the abandoned S3 secret stays in the state")
		}
	}
}

// TestDemoDomainWarns: in demo mode a domain without DNS only warns, so
// the demo needs no reason typed.
func TestDemoDomainWarns(t *testing.T) {
	t.Parallel()
	s := New(Deps{Demo: true, Domain: &fakeDomain{}}, wizard.NewMemStore(wizard.State{}))
	out, err := s.Continuing(nil).Domain(context.Background(), DomainForm{Domain: "carto.demo.test"})
	if err != nil || out.Refused() || !out.State.Done[wizard.Domain] {
		t.Fatalf("demo domain without DNS: %v %+v", err, out.Errors)
	}
	if r := find(out.Run, "domain.resolves"); r.Status != check.Warn || !strings.Contains(r.Hint, "Demo mode") {
		t.Errorf("domain.resolves in demo mode: %+v", r)
	}
}

type busyPort80 struct{}

func (busyPort80) Ensure(context.Context) error {
	return &domaincheck.ListenError{Addr: ":80", Kind: domaincheck.ListenInUse, Err: errors.New("address already in use")}
}

// TestDomainCheckWithCARTOsRouterOnPort80: after the install CARTO's own
// router holds port 80; the reachability check says so instead of asking
// the admin to free the port.
func TestDomainCheckWithCARTOsRouterOnPort80(t *testing.T) {
	t.Parallel()
	closed := testenv.ClosedPort(t)
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort("127.0.0.1", strconv.Itoa(closed)))
	}}
	for _, holds := range []bool{true, false} {
		p := &DomainProbe{Resolver: resolver, Nonces: domaincheck.NewNonces(time.Now, 0), Port80: busyPort80{},
			RouterHoldsPort80: func(context.Context) bool { return holds }}
		var reach check.Result
		for _, r := range p.Check(context.Background(), "carto.example.com", "") {
			if r.ID == domaincheck.IDReachable {
				reach = r
			}
		}
		free := strings.Contains(reach.Hint, "Free port 80")
		if holds && (free || reach.Status != check.Warn || !strings.Contains(reach.Message, "CARTO's router")) {
			t.Errorf("router holds port 80: %+v", reach)
		}
		if !holds && !free {
			t.Errorf("another program holds port 80: %+v", reach)
		}
	}
}
