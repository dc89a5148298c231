package status

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/selfsigned"
	"github.com/carto-setup/carto-setup/internal/smoketest"
	"github.com/carto-setup/carto-setup/internal/stats"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// Engine is the part of the engine client the reader uses; *engine.Client
// satisfies it.
type Engine interface {
	ProjectContainers(ctx context.Context, project string) ([]engine.ContainerInfo, error)
	InspectContainer(ctx context.Context, id string) (engine.ContainerInfo, error)
}

// Usage is the stats sampler's view (*stats.Sampler).
type Usage interface {
	All() []stats.Series
	Err() error
}

// Reader reads one install. Engine nil means Docker is not reachable,
// EngineErr says why; Usage nil shows no charts.
type Reader struct {
	Engine     Engine
	EngineErr  error
	Project    string
	ReleaseDir string
	Usage      Usage
}

// Verdicts of a service, as the chips colour them.
const (
	OK      = "ok"
	Pending = "pending"
	Failed  = "failed"
)

// Service is one service of the install as it runs now.
type Service struct {
	Name      string
	Container string
	State     string // running, exited, restarting, created, paused, or "" without a container
	ExitCode  int
	Health    string // healthy, unhealthy, starting, or "" without a healthcheck
	Restarts  int
	StartedAt time.Time
	OneShot   bool // expected to exit 0 (workspace-migrations)
	Verdict   string
	Reason    string
}

// Cert is the installed router certificate.
type Cert struct {
	// Known is false when it could not be read; Problem says why.
	Known   bool
	Problem string
	// Generated: the router makes its own at start, nothing to read.
	Generated   bool
	Names       string
	NotAfter    time.Time
	Fingerprint string
}

// Report is everything the Status page shows of the running install.
type Report struct {
	Services []Service
	Ready    int
	// EngineProblem says why the containers could not be read.
	EngineProblem string
	// CheckedOut is the release's VERSION as checked out now.
	CheckedOut string
	Domain     string // SELFHOSTED_DOMAIN as installed
	Cert       Cert
	Usage      []stats.Series
	// UsageProblem says why the last stats round failed.
	UsageProblem string
}

// Read reads the install of st: the services expected are those of its
// plan (a service scaled to 0 is not), plus any other container of the
// project.
func (r *Reader) Read(ctx context.Context, st wizard.State) Report {
	var services []string
	var scales map[string]int
	if plan, err := deploy.NewPlan(st, r.ReleaseDir); err == nil {
		services, scales = plan.Services(), plan.Scales()
	}
	return r.read(ctx, services, scales)
}

func (r *Reader) read(ctx context.Context, services []string, scales map[string]int) Report {
	var rep Report
	if b, err := os.ReadFile(filepath.Join(r.ReleaseDir, "VERSION")); err == nil {
		rep.CheckedOut = strings.TrimSpace(string(b))
	}
	rep.Domain, rep.Cert = r.cert()
	rep.Services, rep.EngineProblem = r.services(ctx, services, scales)
	for _, s := range rep.Services {
		if s.Verdict == OK {
			rep.Ready++
		}
	}
	if r.Usage != nil {
		rep.Usage = r.Usage.All()
		if err := r.Usage.Err(); err != nil {
			rep.UsageProblem = "The last sample of CPU and memory use failed; the charts may have gaps."
		}
	}
	return rep
}

func (r *Reader) services(ctx context.Context, services []string, scales map[string]int) ([]Service, string) {
	var expected []string
	for _, s := range services {
		if n, ok := scales[s]; !ok || n != 0 {
			expected = append(expected, s)
		}
	}
	if r.Engine == nil {
		reason := "The Docker Engine is not reachable."
		if r.EngineErr != nil {
			reason = "The Docker Engine is not reachable: start Docker and check that this user may use its socket."
		}
		var out []Service
		for _, s := range expected {
			out = append(out, Service{Name: s, OneShot: s == smoketest.MigrationsService, Verdict: Pending, Reason: "unknown"})
		}
		return out, reason
	}
	list, err := r.Engine.ProjectContainers(ctx, r.Project)
	if err != nil {
		return nil, "The containers could not be listed: " + reasonOf(err)
	}
	byService := map[string][]engine.ContainerInfo{}
	for _, c := range list {
		if c.Service == "" {
			continue
		}
		if info, err := r.Engine.InspectContainer(ctx, c.ID); err == nil {
			info.Service = c.Service
			c = info
		}
		byService[c.Service] = append(byService[c.Service], c)
		if !slices.Contains(expected, c.Service) {
			expected = append(expected, c.Service)
		}
	}
	out := make([]Service, 0, len(expected))
	for _, name := range expected {
		out = append(out, judge(name, byService[name]))
	}
	return out, ""
}

func reasonOf(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "the Docker Engine did not answer in time."
	}
	return "the Docker Engine refused the request."
}

// rank orders a service's containers: the one that counts first.
func rank(c engine.ContainerInfo, oneShot bool) int {
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

// judge says whether a service is as the release expects it.
func judge(name string, cs []engine.ContainerInfo) Service {
	s := Service{Name: name, OneShot: name == smoketest.MigrationsService}
	if len(cs) == 0 {
		s.Verdict, s.Reason = Failed, "no container"
		return s
	}
	slices.SortFunc(cs, func(a, b engine.ContainerInfo) int { return rank(b, s.OneShot) - rank(a, s.OneShot) })
	c := cs[0]
	s.Container, s.State, s.ExitCode, s.Health, s.Restarts, s.StartedAt = c.Name, c.State, c.ExitCode, c.Health, c.RestartCount, c.StartedAt
	switch {
	case s.OneShot && c.State == "exited" && c.ExitCode == 0:
		s.Verdict, s.Reason = OK, "finished"
	case s.OneShot && c.State == "running":
		s.Verdict, s.Reason = Pending, "still migrating"
	case c.State == "running" && c.Health == "unhealthy":
		s.Verdict, s.Reason = Failed, "unhealthy"
	case c.State == "running" && c.Health == "starting":
		s.Verdict, s.Reason = Pending, "health check starting"
	case c.State == "running":
		s.Verdict, s.Reason = OK, "running"
	case c.State == "restarting":
		s.Verdict, s.Reason = Failed, fmt.Sprintf("restarting, last exit code %d", c.ExitCode)
	case c.State == "exited":
		s.Verdict, s.Reason = Failed, fmt.Sprintf("exited with code %d", c.ExitCode)
	case c.State == "created" || c.State == "paused":
		s.Verdict, s.Reason = Pending, c.State
	default:
		s.Verdict, s.Reason = Failed, c.State
	}
	return s
}

// cert reads the installed domain and router certificate the way the
// smoke test does (smoketest.ReadInstalled).
func (r *Reader) cert() (string, Cert) {
	b, err := os.ReadFile(filepath.Join(r.ReleaseDir, ".env"))
	if err != nil {
		return "", Cert{Problem: "The release has no .env: nothing is installed there."}
	}
	f, err := envfile.Parse(b)
	if err != nil {
		return "", Cert{Problem: "The release's .env could not be read."}
	}
	env := map[string]string{}
	for _, k := range f.Keys() {
		env[k], _ = f.Get(k)
	}
	in, err := smoketest.ReadInstalled(r.ReleaseDir, env)
	if err != nil {
		return strings.TrimSpace(env["SELFHOSTED_DOMAIN"]), Cert{Problem: "The installed router certificate could not be read: " + strings.TrimPrefix(err.Error(), "smoketest: ")}
	}
	if in.RouterGenerates {
		return in.Domain, Cert{Known: true, Generated: true}
	}
	blk, _ := pem.Decode([]byte(in.CertPEM))
	if blk == nil {
		return in.Domain, Cert{Problem: "The installed router certificate is not PEM."}
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return in.Domain, Cert{Problem: "The installed router certificate could not be parsed."}
	}
	names := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	return in.Domain, Cert{Known: true, Names: strings.Join(names, ", "), NotAfter: c.NotAfter, Fingerprint: selfsigned.Fingerprint(c.Raw)}
}
