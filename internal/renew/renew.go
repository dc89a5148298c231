package renew

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/acmeissue"
	"github.com/carto-setup/carto-setup/internal/certcheck"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/domaincheck"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// RouterService is the Compose service that serves the certificate and
// publishes port 80, which the HTTP-01 challenge needs while it is stopped.
const RouterService = "router-http"

// DefaultWithin is how close to its expiry a certificate is renewed: Let's
// Encrypt sends its first expiry notice 20 days before, and certificates
// last 90 days, so 30 days leaves two weeks of daily retries.
const DefaultWithin = 30 * 24 * time.Hour

// startTimeout bounds restarting router-http, which must happen even when
// the run's own context has been cancelled.
const startTimeout = 2 * time.Minute

// Router stops and starts the router-http service of the installed stack.
// Stop must free port 80; Start is called after every Stop, whatever
// happened in between.
type Router interface {
	Stop(ctx context.Context) error
	Start(ctx context.Context) error
}

// IssueFunc obtains a certificate for domain from the ACME directory with
// the saved account key (a new key when it is empty), answering the HTTP-01
// challenge on port 80 and releasing the port before it returns. It returns
// the full chain and key as PEM, and the account key it used. Its failures
// may be *acmeissue.IssueError.
type IssueFunc func(ctx context.Context, domain, email, directory string, accountKey []byte) (certPEM, keyPEM, account []byte, err error)

// Deps are what Run talks to.
type Deps struct {
	Store  wizard.Store
	Router Router
	Issue  IssueFunc
	// Resolve, when set, is asked whether the domain exists before the
	// router is stopped, so a deleted DNS record costs no downtime.
	Resolve func(ctx context.Context, host string) ([]string, error)
	Now     func() time.Time
}

// Config says which install to renew and when.
type Config struct {
	// ReleaseDir is the carto-selfhosted checkout whose certs/ holds the
	// router's certificate.
	ReleaseDir string
	// StateDir is carto-setup's state directory, whose record of the
	// install the new files are entered in (deploy.WriteMounted), so that
	// the next install does not take them for a hand edit. Empty: no
	// record is updated.
	StateDir string
	// Within renews a certificate that expires within this duration;
	// DefaultWithin when zero.
	Within time.Duration
	// Directory is the ACME directory to use when the state has none.
	Directory string
	// Roots verifies the new chain in the report; nil means the system
	// roots. A chain that does not verify is still used (the CA issued it),
	// as the wizard does.
	Roots *x509.CertPool
}

// Status is what a run did.
type Status string

// The outcomes of a run that did not fail.
const (
	// StatusNotACME means the router certificate is not an ACME one, so
	// there is nothing to renew.
	StatusNotACME Status = "not acme"
	// StatusNotDue means the certificate is valid for longer than Within.
	StatusNotDue Status = "not due"
	// StatusRenewed means a new certificate is in the state, and in certs/
	// when the stack is installed.
	StatusRenewed Status = "renewed"
)

// Result describes a run.
type Result struct {
	Status Status
	Mode   string // the TLS mode in the state
	Domain string
	// Reason says why the certificate was (or was not) due.
	Reason string
	// NotAfter and Fingerprint describe the certificate in place after
	// the run: the new one when renewed, the old one otherwise.
	NotAfter    time.Time
	Fingerprint string
	// OldNotAfter is the expiry that made the renewal due.
	OldNotAfter time.Time
	// Installed is true when certs/ holds the router certificate, so the
	// files were (or would have been) replaced and router-http restarted.
	Installed bool
}

// Error is a failed renewal. The old certificate is still in certs/ and in
// the state, unless RouterDown says that only restarting router-http failed.
type Error struct {
	// Stage is where it failed: state, read, dns, stop, issue, check,
	// write, save or start.
	Stage string
	Err   error
}

// Error returns the failure with its cause, for the log.
func (e *Error) Error() string { return fmt.Sprintf("renew: %s: %v", e.Stage, e.Err) }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Message returns a sentence for the admin: what failed and what to do. It
// uses the CA's classified message when there is one and never includes a
// secret.
func (e *Error) Message() string {
	var ie *acmeissue.IssueError
	if errors.As(e.Err, &ie) {
		return ie.Message() + " The old certificate stays in place."
	}
	var le *domaincheck.ListenError
	if errors.As(e.Err, &le) {
		switch le.Kind {
		case domaincheck.ListenPermission:
			return fmt.Sprintf("This process may not bind port 80 (%s): run carto-setup renew with CAP_NET_BIND_SERVICE, as the README's systemd unit does. The old certificate stays in place.", le.Addr)
		case domaincheck.ListenInUse:
			return fmt.Sprintf("Port 80 (%s) is still in use after %s was stopped: stop the program holding it (a running wizard, another web server) and try again. The old certificate stays in place.", le.Addr, RouterService)
		}
	}
	switch e.Stage {
	case "state":
		return "The wizard's state could not be read or has no ACME certificate; finish the TLS step in the wizard first."
	case "read":
		return fmt.Sprintf("The installed certificate in %s could not be read: check the permissions of that directory. Nothing was changed.", deploy.CertsDir)
	case "dns":
		return "The domain does not resolve, so the certificate authority could not verify it; fix its DNS record. The old certificate stays in place."
	case "stop":
		return "router-http could not be stopped to free port 80. The old certificate stays in place."
	case "issue":
		return "The certificate could not be obtained. The old certificate stays in place."
	case "check":
		return "The new certificate failed the certificate checks and was not used. The old certificate stays in place."
	case "write", "save":
		return "The new certificate could not be saved. The old certificate stays in place."
	case "start":
		return fmt.Sprintf("%s could not be started again: start it with docker-compose start %s.", RouterService, RouterService)
	}
	return "The renewal failed. The old certificate stays in place."
}

// ErrStateChanged means the wizard changed the TLS step while the renewal
// ran; the renewal then keeps its hands off the admin's new choice.
var ErrStateChanged = errors.New("the TLS step changed while renewing")

// Decision says whether a certificate is due for renewal.
type Decision struct {
	Due      bool
	Reason   string
	NotAfter time.Time // the earliest expiry of the certificates looked at
}

// Decide reports whether the state's certificate, or the one in certs/
// (nil when there is none), expires within the given duration of now. A
// certificate that cannot be read is due: a renewal replaces it.
func Decide(stateCert, fileCert []byte, now time.Time, within time.Duration) Decision {
	var d Decision
	look := func(where string, certPEM []byte) {
		notAfter, err := leafNotAfter(certPEM)
		if err != nil {
			if !d.Due {
				d.Due, d.Reason = true, fmt.Sprintf("the certificate %s cannot be read", where)
			}
			return
		}
		if d.NotAfter.IsZero() || notAfter.Before(d.NotAfter) {
			d.NotAfter = notAfter
		}
		due, _ := acmeissue.NeedsRenewal(certPEM, now, within)
		if due && !d.Due {
			d.Due = true
			if now.After(notAfter) {
				d.Reason = fmt.Sprintf("the certificate %s expired on %s", where, notAfter.UTC().Format(time.RFC3339))
			} else {
				d.Reason = fmt.Sprintf("the certificate %s expires on %s, within %s", where, notAfter.UTC().Format(time.RFC3339), within)
			}
		}
	}
	look("in the wizard's state", stateCert)
	if fileCert != nil {
		look("in "+filepath.Join(deploy.CertsDir, deploy.RouterCertFile), fileCert)
	}
	if !d.Due {
		d.Reason = fmt.Sprintf("the certificate expires on %s, more than %s away", d.NotAfter.UTC().Format(time.RFC3339), within)
	}
	return d
}

// leafNotAfter returns the expiry of the first certificate in certPEM.
func leafNotAfter(certPEM []byte) (time.Time, error) {
	rest := certPEM
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return time.Time{}, errors.New("no PEM certificate")
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return time.Time{}, err
		}
		return cert.NotAfter, nil
	}
}

// Run renews the router certificate when it is due. It returns a Result
// in every case; the error is an *Error when the renewal failed, in which
// case the old certificate and key are still in certs/ and in the state. The
// one exception is a failure to start router-http again after a successful
// renewal: the Result then says StatusRenewed and the *Error's Stage is
// "start".
func Run(ctx context.Context, deps Deps, cfg Config) (res Result, err error) {
	if cfg.Within <= 0 {
		cfg.Within = DefaultWithin
	}
	now := time.Now
	if deps.Now != nil {
		now = deps.Now
	}
	st, err := deps.Store.Load()
	if err != nil {
		return res, &Error{Stage: "state", Err: err}
	}
	old := st.TLS
	res = Result{Mode: old.Mode, Domain: st.Domain.Domain, Fingerprint: old.Fingerprint}
	if old.Mode != wizard.TLSACME {
		res.Status = StatusNotACME
		return res, nil
	}
	if res.Domain == "" || old.CertPEM == "" || old.KeyPEM == "" {
		return res, &Error{Stage: "state", Err: errors.New("the TLS mode is acme but the state holds no domain, certificate or key")}
	}

	files := routerFiles(cfg.StateDir, cfg.ReleaseDir)
	oldFiles, err := files.read()
	if err != nil {
		return res, &Error{Stage: "read", Err: err}
	}
	res.Installed = oldFiles.cert != nil
	dec := Decide([]byte(old.CertPEM), oldFiles.cert, now(), cfg.Within)
	res.Reason, res.NotAfter, res.OldNotAfter = dec.Reason, dec.NotAfter, dec.NotAfter
	if !dec.Due {
		res.Status = StatusNotDue
		return res, nil
	}

	if deps.Resolve != nil {
		// Only a name that does not exist stops the run: a resolver that
		// times out says nothing about what the CA will see.
		var dnsErr *net.DNSError
		if _, err := deps.Resolve(ctx, res.Domain); errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return res, &Error{Stage: "dns", Err: err}
		}
	}
	if res.Installed {
		// router-http holds port 80 while it runs. It is started again
		// whatever happens, even when ctx has been cancelled.
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), startTimeout)
			defer cancel()
			if serr := deps.Router.Start(sctx); serr != nil {
				serr = &Error{Stage: "start", Err: serr}
				if err == nil {
					err = serr
				} else {
					err = errors.Join(err, serr)
				}
			}
		}()
		if err := deps.Router.Stop(ctx); err != nil {
			return res, &Error{Stage: "stop", Err: err}
		}
	}

	directory := old.ACMEDirectory
	if directory == "" {
		directory = cfg.Directory
	}
	certPEM, keyPEM, account, err := deps.Issue(ctx, res.Domain, old.ACMEEmail, directory, []byte(old.ACMEAccount))
	if err != nil {
		return res, &Error{Stage: "issue", Err: err}
	}
	rep := certcheck.Lint(certcheck.Input{Domain: res.Domain, CertPEM: certPEM, KeyPEM: keyPEM}, now(), cfg.Roots)
	if !rep.Usable() || failed(rep.Results, certcheck.IDSAN, certcheck.IDValidity) {
		return res, &Error{Stage: "check", Err: fmt.Errorf("the issued certificate does not pass: %s", failures(rep.Results))}
	}

	next := fileSet{cert: rep.FullChainPEM, key: rep.KeyPEM}
	if res.Installed {
		if err := files.write(next, oldFiles); err != nil {
			return res, &Error{Stage: "write", Err: err}
		}
	}
	if _, err := deps.Store.Update(func(s *wizard.State) error {
		if s.TLS.Mode != wizard.TLSACME || s.TLS.CertPEM != old.CertPEM {
			return ErrStateChanged
		}
		s.TLS.CertPEM, s.TLS.KeyPEM, s.TLS.Fingerprint = string(next.cert), string(next.key), rep.Fingerprint
		if s.TLS.ACMEAccount == "" {
			s.TLS.ACMEAccount = string(account)
		}
		return nil
	}); err != nil {
		if res.Installed {
			// The state still names the old certificate: put its files
			// back so certs/ and the state agree.
			if rerr := files.restore(oldFiles); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
		return res, &Error{Stage: "save", Err: err}
	}
	res.Status, res.NotAfter, res.Fingerprint = StatusRenewed, rep.NotAfter, rep.Fingerprint
	return res, nil
}

// failed reports whether a check with one of the IDs failed.
func failed(results []check.Result, ids ...string) bool {
	for _, r := range results {
		for _, id := range ids {
			if r.ID == id && r.Status == check.Fail {
				return true
			}
		}
	}
	return false
}

func failures(results []check.Result) string {
	var msgs []string
	for _, r := range results {
		if r.Status == check.Fail || r.Status == check.Error {
			msgs = append(msgs, r.ID+": "+r.Message)
		}
	}
	if len(msgs) == 0 {
		return "no usable certificate and key"
	}
	return strings.Join(msgs, "; ")
}

// fileSet is the router's certificate (full chain) and key; nil fields
// mean the file does not exist.
type fileSet struct {
	cert, key []byte
}

// routerPaths are where deploy places the router's files, and the state
// directory whose install record follows them.
type routerPaths struct {
	stateDir, releaseDir string
	dir, cert, key       string
}

func routerFiles(stateDir, releaseDir string) routerPaths {
	dir := filepath.Join(releaseDir, deploy.CertsDir)
	return routerPaths{stateDir: stateDir, releaseDir: releaseDir, dir: dir,
		cert: filepath.Join(dir, deploy.RouterCertFile), key: filepath.Join(dir, deploy.RouterKeyFile)}
}

// put replaces one of the router's files with deploy.WriteMounted: written
// atomically, owner-only, and readable again by exactly the container
// users that could read the file it replaces (router-http runs as its own
// user, and a file replaced by rename loses its ACL).
func (p routerPaths) put(path string, data []byte) error {
	return deploy.WriteMounted(p.stateDir, p.releaseDir, filepath.Join(deploy.CertsDir, filepath.Base(path)), data)
}

// read returns the files in place; both are nil when the certificate is
// not there (the stack has not been installed with this certificate).
func (p routerPaths) read() (fileSet, error) {
	cert, err := os.ReadFile(p.cert)
	if errors.Is(err, fs.ErrNotExist) {
		return fileSet{}, nil
	}
	if err != nil {
		return fileSet{}, fmt.Errorf("read the installed certificate: %w", err)
	}
	key, err := os.ReadFile(p.key)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fileSet{}, fmt.Errorf("read the installed key: %w", err)
	}
	return fileSet{cert: cert, key: key}, nil
}

// write replaces the key and then the certificate, each atomically, with
// deploy's permissions and readers. When the second write fails, the first
// is undone, so router-http never finds a key that does not match its
// certificate.
func (p routerPaths) write(next, old fileSet) error {
	if err := p.put(p.key, next.key); err != nil {
		return err
	}
	if err := p.put(p.cert, next.cert); err != nil {
		if rerr := p.restore(old); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	return nil
}

// restore puts the old files back; a file that did not exist is removed.
func (p routerPaths) restore(old fileSet) error {
	var errs []error
	for _, f := range []struct {
		path string
		data []byte
	}{{p.key, old.key}, {p.cert, old.cert}} {
		cur, err := os.ReadFile(f.path)
		switch {
		case f.data == nil:
			if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		case err == nil && bytes.Equal(cur, f.data):
		default:
			if err := p.put(f.path, f.data); err != nil {
				errs = append(errs, fmt.Errorf("restore %s: %w", filepath.Base(f.path), err))
			}
		}
	}
	return errors.Join(errs...)
}
