package smoketest

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/dbcheck"
)

// Step is the Step of every result.
const Step = "smoke"

// MigrationsService is CARTO's one-shot service, expected to exit 0.
const MigrationsService = "workspace-migrations"

// DefaultTimeout bounds one check when Config.Timeout is 0.
const DefaultTimeout = 10 * time.Second

// The IDs of the router certificate checks. IDCertificate and IDDomain
// failing are fixed: the router serves another install's certificate.
const (
	IDCertificate = "smoke.tls.certificate" // the presented leaf is the installed certificate, byte for byte
	IDDomain      = "smoke.tls.domain"      // the presented leaf covers the installed domain
	IDChain       = "smoke.tls.chain"       // the configured chain is presented in full and verifies
)

// Container is one container of the Compose project as the engine reports
// it.
type Container struct {
	Service  string
	Name     string
	State    string // running, exited, restarting, created, paused
	ExitCode int
	Restarts int
}

// Target is one health endpoint probed inside the Compose network.
type Target struct {
	Service string
	URL     string // http://service:port/health
}

// Answer is what the probe got from one target: the HTTP status, or the
// reason no answer came.
type Answer struct {
	URL    string `json:"url"`
	Status int    `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Deps are the outside things the smoke test reads.
type Deps struct {
	// Containers lists the project's containers; nil leaves the service
	// checks out.
	Containers func(ctx context.Context) ([]Container, error)
	// Probe asks each URL with GET and "Carto-Monitoring: true" from
	// inside the Compose network; nil leaves those checks out.
	Probe func(ctx context.Context, urls []string) ([]Answer, error)
	// Database and Buckets run the steps' live checks again; nil leaves
	// them out.
	Database func(ctx context.Context) []check.Result
	Buckets  func(ctx context.Context) []check.Result
	// Dial connects to the VM's router; nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Config is what the smoke test expects of the install.
type Config struct {
	Domain string
	// Address is this VM's address as the smoke test reaches the router:
	// it connects there and sends Domain as the server name, so the test
	// does not depend on DNS.
	Address   string
	HTTPPort  int // the router's published HTTP port (80)
	HTTPSPort int // the router's published HTTPS port (443)
	// Services are the release's services and Scales the scale of those
	// that set one; a service scaled to 0 is not expected.
	Services []string
	Scales   map[string]int
	// CertPEM is the installed certificate chain, leaf first (see
	// ReadInstalled); the router must present exactly it, and it must
	// cover Domain, the installed domain.
	CertPEM string
	// SelfSigned says the certificate is self-signed, so the chain is not
	// verified against roots (Installed.Apply sets it).
	SelfSigned bool
	// RootCAs verifies an uploaded or ACME chain; nil means the system
	// roots.
	RootCAs *x509.CertPool
	// Health are the endpoints probed inside the Compose network.
	Health []Target
	// Timeout bounds each check; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Run runs every check and returns their results in a fixed order.
func Run(ctx context.Context, deps Deps, cfg Config) []check.Result {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if deps.Dial == nil {
		deps.Dial = (&net.Dialer{}).DialContext
	}
	bounded := func(f func(ctx context.Context) []check.Result) []check.Result {
		cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		return f(cctx)
	}
	var out []check.Result
	if deps.Containers != nil {
		out = append(out, bounded(func(ctx context.Context) []check.Result { return services(ctx, deps, cfg) })...)
	}
	out = append(out, bounded(func(ctx context.Context) []check.Result { return certificate(ctx, deps, cfg) })...)
	out = append(out, bounded(func(ctx context.Context) []check.Result { return []check.Result{redirect(ctx, deps, cfg)} })...)
	for _, p := range routerPages {
		out = append(out, bounded(func(ctx context.Context) []check.Result { return []check.Result{page(ctx, deps, cfg, p)} })...)
	}
	for _, p := range routerHealth {
		out = append(out, bounded(func(ctx context.Context) []check.Result { return []check.Result{routedHealth(ctx, deps, cfg, p)} })...)
	}
	if deps.Probe != nil && len(cfg.Health) > 0 {
		// Starting a container takes a few seconds more than one request.
		out = append(out, withTimeout(ctx, 3*cfg.Timeout, func(ctx context.Context) []check.Result { return health(ctx, deps, cfg) })...)
	}
	if deps.Database != nil {
		out = append(out, again(withTimeout(ctx, 3*cfg.Timeout, deps.Database), "database")...)
	}
	if deps.Buckets != nil {
		out = append(out, again(withTimeout(ctx, 6*cfg.Timeout, deps.Buckets), "buckets")...)
	}
	return out
}

func withTimeout(ctx context.Context, d time.Duration, f func(ctx context.Context) []check.Result) []check.Result {
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return f(cctx)
}

// again marks the results of a step's checks as re-run by the smoke test,
// keeping their messages and hints.
func again(results []check.Result, step string) []check.Result {
	out := make([]check.Result, 0, len(results))
	for _, r := range results {
		r = expectedAfterInstall(r)
		r.Step = Step
		if !strings.HasPrefix(r.ID, step+".") {
			r.ID = step + "." + r.ID
		}
		r.ID = "smoke." + r.ID
		r.Field = ""
		out = append(out, r)
	}
	return out
}

// expectedAfterInstall turns the database step's warnings that the
// workspace role or database already exist into passes: before an install
// they ask the admin whether to reuse them, after it they are what the
// migrations made or use, and the smoke test must not list them as
// continued past.
func expectedAfterInstall(r check.Result) check.Result {
	if r.Status != check.Warn || r.Measured != "exists" {
		return r
	}
	switch r.ID {
	case dbcheck.IDWorkspaceRole:
		r.Message = "The workspace role exists, as the installed migrations need it."
	case dbcheck.IDWorkspaceDatabase:
		r.Message = "The workspace database exists, as the installed migrations need it."
	default:
		return r
	}
	r.Status, r.Hint = check.Pass, ""
	return r
}

// services checks that every expected service runs and that
// workspace-migrations exited 0.
func services(ctx context.Context, deps Deps, cfg Config) []check.Result {
	list, err := deps.Containers(ctx)
	if err != nil {
		return []check.Result{{Step: Step, ID: "smoke.services", Status: check.Error,
			Message:  "The containers could not be listed, so their state is unknown.",
			Required: "every service running, workspace-migrations exited 0",
			Hint:     "Check that Docker is running and that this user may use its socket (the docker group)."}}
	}
	byService := map[string][]Container{}
	for _, c := range list {
		byService[c.Service] = append(byService[c.Service], c)
	}
	var out []check.Result
	for _, svc := range cfg.Services {
		if n, ok := cfg.Scales[svc]; ok && n == 0 {
			continue
		}
		out = append(out, judgeService(svc, byService[svc]))
	}
	return out
}

func judgeService(svc string, cs []Container) check.Result {
	r := check.Result{Step: Step, ID: "smoke.service." + svc, Required: "running"}
	oneShot := svc == MigrationsService
	if oneShot {
		r.Required = "exited (0)"
	}
	if len(cs) == 0 {
		r.Status, r.Measured = check.Fail, "no container"
		r.Message = svc + " has no container: Compose did not create it."
		r.Hint = "Run the install again; if it keeps missing, check docker-compose.yml and the release version."
		return r
	}
	// With several containers (scaled, or left over), the best one counts.
	slices.SortFunc(cs, func(a, b Container) int { return rank(b, oneShot) - rank(a, oneShot) })
	c := cs[0]
	r.Measured = describe(c)
	switch {
	case oneShot && c.State == "exited" && c.ExitCode == 0:
		r.Status, r.Message = check.Pass, svc+" exited with code 0: the database migrations finished."
	case oneShot && c.State == "running":
		r.Status, r.Message = check.Warn, svc+" is still running: the migrations have not finished yet."
		r.Hint = "Run the smoke test again in a minute; if it stays running, read its log."
	case oneShot:
		r.Status, r.Message = check.Fail, fmt.Sprintf("%s is %s, not exited with code 0: the database migrations failed.", svc, r.Measured)
		r.Hint = "Read its log in the support bundle or with docker logs " + c.Name + "; the database credentials, network access and SSL settings are the usual causes."
	case c.State == "running":
		r.Status, r.Message = check.Pass, svc+" is running."
	default:
		r.Status, r.Message = check.Fail, fmt.Sprintf("%s is %s, not running.", svc, r.Measured)
		r.Hint = "Start it with docker start " + c.Name + " or run the install again, and read its last log lines if it stops again."
	}
	return r
}

func rank(c Container, oneShot bool) int {
	switch {
	case oneShot && c.State == "exited" && c.ExitCode == 0:
		return 3
	case c.State == "running":
		return 2
	case c.State == "restarting":
		return 1
	}
	return 0
}

func describe(c Container) string {
	s := c.State
	if c.State == "exited" || c.State == "restarting" {
		s = fmt.Sprintf("%s (%d)", c.State, c.ExitCode)
	}
	if c.Restarts > 0 {
		s += fmt.Sprintf(", %d restarts", c.Restarts)
	}
	return s
}
