package renew

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/acme"

	"github.com/carto-setup/carto-setup/internal/acmeissue"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/domaincheck"
	"github.com/carto-setup/carto-setup/internal/selfsigned"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

const domain = "carto.renew.test"

var now = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

// memStore is a wizard.Store in memory; updateErr makes every Update fail.
type memStore struct {
	mu        sync.Mutex
	st        wizard.State
	updateErr error
}

func (s *memStore) Load() (wizard.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st, nil
}

func (s *memStore) Update(fn func(*wizard.State) error) (wizard.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.updateErr != nil {
		return wizard.State{}, s.updateErr
	}
	st := s.st
	if err := fn(&st); err != nil {
		return wizard.State{}, err
	}
	st.Revision++
	s.st = st
	return st, nil
}

// calls records what the fakes were asked to do, in order.
type calls struct {
	mu  sync.Mutex
	log []string
}

func (c *calls) add(s string) { c.mu.Lock(); c.log = append(c.log, s); c.mu.Unlock() }

func (c *calls) list() []string { c.mu.Lock(); defer c.mu.Unlock(); return slices.Clone(c.log) }

type fakeRouter struct {
	calls    *calls
	stopErr  error
	startErr error
	// startCtxErr is the error of the context Start got.
	startCtxErr error
}

func (r *fakeRouter) Stop(ctx context.Context) error { r.calls.add("stop"); return r.stopErr }

func (r *fakeRouter) Start(ctx context.Context) error {
	r.calls.add("start")
	r.startCtxErr = ctx.Err()
	return r.startErr
}

// pair returns a self-signed certificate and key for name, valid from
// notBefore for validity.
func pair(t *testing.T, name string, notBefore time.Time, validity time.Duration) (certPEM, keyPEM []byte) {
	t.Helper()
	certPEM, keyPEM, err := selfsigned.Generate(selfsigned.Request{CommonName: name, DNSNames: []string{name}, NotBefore: notBefore, Validity: validity})
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM
}

func TestDecide(t *testing.T) {
	far, _ := pair(t, domain, now.Add(-time.Hour), 80*24*time.Hour)
	near, _ := pair(t, domain, now.Add(-60*24*time.Hour), 70*24*time.Hour)
	expired, _ := pair(t, domain, now.Add(-90*24*time.Hour), 80*24*time.Hour)

	tests := []struct {
		name       string
		state      []byte
		file       []byte
		wantDue    bool
		reasonHas  string
		wantExpiry time.Time
	}{
		{"state far from expiry, not installed", far, nil, false, "more than", now.Add(-time.Hour + 80*24*time.Hour)},
		{"state and file far from expiry", far, far, false, "more than", now.Add(-time.Hour + 80*24*time.Hour)},
		{"state within the window", near, nil, true, "in the wizard's state expires", now.Add(10 * 24 * time.Hour)},
		{"file within the window, state renewed but not installed", far, near, true, "in certs/carto-router.crt expires", now.Add(10 * 24 * time.Hour)},
		{"already expired", expired, expired, true, "expired on", now.Add(-10 * 24 * time.Hour)},
		{"unreadable file", far, []byte("garbage"), true, "cannot be read", now.Add(-time.Hour + 80*24*time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.state, tt.file, now, DefaultWithin)
			if d.Due != tt.wantDue || !strings.Contains(d.Reason, tt.reasonHas) {
				t.Errorf("Decide = %+v; want due %v with a reason containing %q", d, tt.wantDue, tt.reasonHas)
			}
			// selfsigned truncates to the second.
			if d.NotAfter.Sub(tt.wantExpiry).Abs() > 2*time.Second {
				t.Errorf("NotAfter = %s, want %s", d.NotAfter, tt.wantExpiry)
			}
		})
	}
}

// fixture is an installed ACME certificate about to expire.
type fixture struct {
	dir               string
	store             *memStore
	calls             *calls
	router            *fakeRouter
	oldCert, oldKey   []byte
	newCert, newKey   []byte
	issueErr          error
	issueName         string // the name the "CA" certifies; domain by default
	gotEmail, gotDir  string
	gotAccount        []byte
	cancelDuringIssue context.CancelFunc
}

func newFixture(t *testing.T, installed bool) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), calls: &calls{}, issueName: domain}
	f.router = &fakeRouter{calls: f.calls}
	f.oldCert, f.oldKey = pair(t, domain, now.Add(-80*24*time.Hour), 90*24*time.Hour)
	f.store = &memStore{st: wizard.State{
		Domain: wizard.DomainInput{Domain: domain},
		TLS: wizard.TLSInput{Mode: wizard.TLSACME, CertPEM: string(f.oldCert), KeyPEM: string(f.oldKey), Fingerprint: "old",
			ACMEEmail: "admin@example.com", ACMEDirectory: "https://acme.test/dir", ACMEAccount: "ACCOUNT KEY"},
	}}
	if installed {
		certs := filepath.Join(f.dir, deploy.CertsDir)
		if err := os.MkdirAll(certs, deploy.DirPerm); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(certs, deploy.RouterCertFile), f.oldCert, deploy.FilePerm)
		os.WriteFile(filepath.Join(certs, deploy.RouterKeyFile), f.oldKey, deploy.FilePerm)
	}
	return f
}

func (f *fixture) deps(t *testing.T) Deps {
	return Deps{
		Store:  f.store,
		Router: f.router,
		Issue: func(ctx context.Context, d, email, dir string, account []byte) ([]byte, []byte, []byte, error) {
			f.calls.add("issue")
			f.gotEmail, f.gotDir, f.gotAccount = email, dir, account
			if f.cancelDuringIssue != nil {
				f.cancelDuringIssue()
				return nil, nil, nil, ctx.Err()
			}
			if f.issueErr != nil {
				return nil, nil, nil, f.issueErr
			}
			f.newCert, f.newKey = pair(t, f.issueName, now.Add(-time.Minute), 90*24*time.Hour)
			return f.newCert, f.newKey, account, nil
		},
		Now: func() time.Time { return now },
	}
}

func (f *fixture) files(t *testing.T) (cert, key []byte) {
	t.Helper()
	certs := filepath.Join(f.dir, deploy.CertsDir)
	cert, _ = os.ReadFile(filepath.Join(certs, deploy.RouterCertFile))
	key, _ = os.ReadFile(filepath.Join(certs, deploy.RouterKeyFile))
	return cert, key
}

// assertOldKept checks that the old certificate is still in certs/ and in
// the state.
func (f *fixture) assertOldKept(t *testing.T) {
	t.Helper()
	cert, key := f.files(t)
	if string(cert) != string(f.oldCert) || string(key) != string(f.oldKey) {
		t.Error("certs/ no longer holds the old certificate and key")
	}
	st, _ := f.store.Load()
	if st.TLS.CertPEM != string(f.oldCert) || st.TLS.KeyPEM != string(f.oldKey) || st.TLS.Fingerprint != "old" {
		t.Error("the state no longer holds the old certificate")
	}
}

func TestRunRenews(t *testing.T) {
	f := newFixture(t, true)
	res, err := Run(t.Context(), f.deps(t), Config{ReleaseDir: f.dir, Within: DefaultWithin})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Status != StatusRenewed || !res.Installed {
		t.Errorf("Result = %+v, want renewed and installed", res)
	}
	if diff := cmp.Diff([]string{"stop", "issue", "start"}, f.calls.list()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if f.gotEmail != "admin@example.com" || f.gotDir != "https://acme.test/dir" || string(f.gotAccount) != "ACCOUNT KEY" {
		t.Errorf("Issue got %q %q %q; want the saved e-mail, directory and account key", f.gotEmail, f.gotDir, f.gotAccount)
	}
	cert, key := f.files(t)
	if string(cert) != string(f.newCert) || string(key) != string(f.newKey) {
		t.Error("certs/ does not hold the new certificate and key")
	}
	for _, name := range []string{deploy.RouterCertFile, deploy.RouterKeyFile} {
		fi, err := os.Stat(filepath.Join(f.dir, deploy.CertsDir, name))
		if err != nil || fi.Mode().Perm() != deploy.FilePerm {
			t.Errorf("%s: %v, mode %v; want %v", name, err, fi.Mode().Perm(), os.FileMode(deploy.FilePerm))
		}
	}
	st, _ := f.store.Load()
	if st.TLS.CertPEM != string(f.newCert) || st.TLS.KeyPEM != string(f.newKey) || st.TLS.Fingerprint != res.Fingerprint || res.Fingerprint == "old" {
		t.Error("the state does not hold the new certificate, key and fingerprint")
	}
	if st.TLS.Mode != wizard.TLSACME || st.TLS.ACMEAccount != "ACCOUNT KEY" || st.TLS.ACMEEmail != "admin@example.com" {
		t.Errorf("the renewal changed other TLS settings: %+v", st.TLS)
	}
	if !res.NotAfter.After(now.Add(80 * 24 * time.Hour)) {
		t.Errorf("NotAfter = %s, want the new certificate's", res.NotAfter)
	}
}

func TestRunWithoutRenewing(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(f *fixture)
		within time.Duration
		want   Status
	}{
		{"not an ACME certificate", func(f *fixture) { f.store.st.TLS.Mode = wizard.TLSUpload }, DefaultWithin, StatusNotACME},
		{"TLS step not done", func(f *fixture) { f.store.st.TLS = wizard.TLSInput{} }, DefaultWithin, StatusNotACME},
		{"not due", func(f *fixture) {}, 24 * time.Hour, StatusNotDue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, true)
			tt.setup(f)
			res, err := Run(t.Context(), f.deps(t), Config{ReleaseDir: f.dir, Within: tt.within})
			if err != nil || res.Status != tt.want {
				t.Fatalf("Run = %+v, %v; want %s", res, err, tt.want)
			}
			if c := f.calls.list(); len(c) != 0 {
				t.Errorf("calls %v, want none", c)
			}
			cert, _ := f.files(t)
			if string(cert) != string(f.oldCert) {
				t.Error("certs/ changed")
			}
		})
	}
}

func TestRunNotInstalled(t *testing.T) {
	f := newFixture(t, false)
	res, err := Run(t.Context(), f.deps(t), Config{ReleaseDir: f.dir})
	if err != nil || res.Status != StatusRenewed || res.Installed {
		t.Fatalf("Run = %+v, %v; want renewed in the state only", res, err)
	}
	if diff := cmp.Diff([]string{"issue"}, f.calls.list()); diff != "" {
		t.Errorf("calls (-want +got): router-http must be left alone when nothing is installed\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(f.dir, deploy.CertsDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("certs/ was created before the install: %v", err)
	}
	if st, _ := f.store.Load(); st.TLS.CertPEM != string(f.newCert) {
		t.Error("the state does not hold the new certificate")
	}
}

// TestRunFailureKeepsOldCertificate covers every way a due renewal can
// fail: the old certificate stays in certs/ and in the state, and
// router-http is started again whenever it was stopped.
func TestRunFailureKeepsOldCertificate(t *testing.T) {
	challengeFailed := &acmeissue.IssueError{Kind: acmeissue.KindChallengeFailed, Domain: domain,
		Err: &acme.AuthorizationError{Identifier: domain}}
	tests := []struct {
		name      string
		setup     func(f *fixture, cancel context.CancelFunc)
		deps      func(d *Deps)
		wantStage string
		wantCalls []string
		msgHas    string
	}{
		{
			name:      "the CA cannot validate the domain",
			setup:     func(f *fixture, _ context.CancelFunc) { f.issueErr = challengeFailed },
			wantStage: "issue", wantCalls: []string{"stop", "issue", "start"}, msgHas: "port 80",
		},
		{
			name: "port 80 may not be bound",
			setup: func(f *fixture, _ context.CancelFunc) {
				f.issueErr = fmt.Errorf("acme: port 80: %w", &domaincheck.ListenError{Addr: ":80", Kind: domaincheck.ListenPermission, Err: os.ErrPermission})
			},
			wantStage: "issue", wantCalls: []string{"stop", "issue", "start"}, msgHas: "CAP_NET_BIND_SERVICE",
		},
		{
			name: "port 80 still in use",
			setup: func(f *fixture, _ context.CancelFunc) {
				f.issueErr = fmt.Errorf("acme: port 80: %w", &domaincheck.ListenError{Addr: ":80", Kind: domaincheck.ListenInUse, Err: errors.New("address already in use")})
			},
			wantStage: "issue", wantCalls: []string{"stop", "issue", "start"}, msgHas: "still in use",
		},
		{
			name:      "router-http does not stop",
			setup:     func(f *fixture, _ context.CancelFunc) { f.router.stopErr = errors.New("compose stop: exit status 1") },
			wantStage: "stop", wantCalls: []string{"stop", "start"}, msgHas: "could not be stopped",
		},
		{
			name: "the domain does not resolve",
			deps: func(d *Deps) {
				d.Resolve = func(context.Context, string) ([]string, error) {
					return nil, &net.DNSError{Err: "no such host", Name: domain, IsNotFound: true}
				}
			},
			wantStage: "dns", wantCalls: nil, msgHas: "does not resolve",
		},
		{
			name:      "the CA certifies another name",
			setup:     func(f *fixture, _ context.CancelFunc) { f.issueName = "other.example.com" },
			wantStage: "check", wantCalls: []string{"stop", "issue", "start"}, msgHas: "failed the certificate checks",
		},
		{
			name:      "the state cannot be saved",
			setup:     func(f *fixture, _ context.CancelFunc) { f.store.updateErr = errors.New("disk full") },
			wantStage: "save", wantCalls: []string{"stop", "issue", "start"}, msgHas: "could not be saved",
		},
		{
			name:      "interrupted while issuing",
			setup:     func(f *fixture, cancel context.CancelFunc) { f.cancelDuringIssue = cancel },
			wantStage: "issue", wantCalls: []string{"stop", "issue", "start"}, msgHas: "could not be obtained",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, true)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tt.setup != nil {
				tt.setup(f, cancel)
			}
			deps := f.deps(t)
			if tt.deps != nil {
				tt.deps(&deps)
			}
			res, err := Run(ctx, deps, Config{ReleaseDir: f.dir})
			var re *Error
			if !errors.As(err, &re) || re.Stage != tt.wantStage {
				t.Fatalf("Run error = %v, want a *renew.Error at stage %s", err, tt.wantStage)
			}
			if !strings.Contains(re.Message(), tt.msgHas) || !strings.Contains(re.Message(), "old certificate stays") {
				t.Errorf("Message() = %q, want it to contain %q and say the old certificate stays", re.Message(), tt.msgHas)
			}
			if res.Status == StatusRenewed {
				t.Errorf("Status = %s after a failure", res.Status)
			}
			if diff := cmp.Diff(tt.wantCalls, f.calls.list()); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if f.router.startCtxErr != nil {
				t.Errorf("router-http was started with a dead context: %v", f.router.startCtxErr)
			}
			f.assertOldKept(t)
		})
	}
}

// TestRunStartFails: the new certificate is in place, but the admin must
// be told that router-http is down.
func TestRunStartFails(t *testing.T) {
	f := newFixture(t, true)
	f.router.startErr = errors.New("compose start: exit status 1")
	res, err := Run(t.Context(), f.deps(t), Config{ReleaseDir: f.dir})
	var re *Error
	if !errors.As(err, &re) || re.Stage != "start" || !strings.Contains(re.Message(), "docker-compose start router-http") {
		t.Fatalf("Run error = %v, want stage start with the command to run", err)
	}
	if res.Status != StatusRenewed {
		t.Errorf("Status = %s, want renewed", res.Status)
	}
	if cert, _ := f.files(t); string(cert) != string(f.newCert) {
		t.Error("certs/ does not hold the new certificate")
	}
}

// TestRunStateChangedMeanwhile: the admin switched the TLS step to an
// upload while the renewal ran; their choice wins and certs/ is put back.
func TestRunStateChangedMeanwhile(t *testing.T) {
	f := newFixture(t, true)
	deps := f.deps(t)
	issue := deps.Issue
	deps.Issue = func(ctx context.Context, d, e, dir string, a []byte) ([]byte, []byte, []byte, error) {
		f.store.mu.Lock()
		f.store.st.TLS.Mode = wizard.TLSUpload
		f.store.mu.Unlock()
		return issue(ctx, d, e, dir, a)
	}
	_, err := Run(t.Context(), deps, Config{ReleaseDir: f.dir})
	if !errors.Is(err, ErrStateChanged) {
		t.Fatalf("Run error = %v, want ErrStateChanged", err)
	}
	if cert, key := f.files(t); string(cert) != string(f.oldCert) || string(key) != string(f.oldKey) {
		t.Error("certs/ was not put back")
	}
}

// TestRunResolverUnavailable: a resolver that does not answer is no reason
// to skip a renewal the CA may well validate.
func TestRunResolverUnavailable(t *testing.T) {
	f := newFixture(t, true)
	deps := f.deps(t)
	deps.Resolve = func(context.Context, string) ([]string, error) {
		return nil, &net.DNSError{Err: "i/o timeout", Name: domain, IsTimeout: true}
	}
	res, err := Run(t.Context(), deps, Config{ReleaseDir: f.dir})
	if err != nil || res.Status != StatusRenewed {
		t.Fatalf("Run = %+v, %v; want renewed", res, err)
	}
}
