package steps

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
	"github.com/carto-setup/carto-setup/internal/certcheck"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/images"
	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/smoketest"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// smokeJobKind is the jobs kind of a smoke-test run.
const smokeJobKind = "smoke"

// SmokeConfig is what the smoke test needs besides the state.
type SmokeConfig struct {
	Log *slog.Logger
	// Runner runs the smoke test as a job for the wizard; the foreground
	// Run of the command line needs none.
	Runner *jobs.Runner
	// Steps re-run the database and buckets checks from this VM, and
	// save the results.
	Steps      *Steps
	ReleaseDir string
	StateDir   string
	Project    string
	// ProbeBinary is a static carto-setup executable: the in-network
	// probe runs it in a FROM-scratch image.
	ProbeBinary string
	// Address is this VM's address, where the router's ports are
	// published.
	Address string
	// Version is carto-setup's version, written into the support bundle.
	Version string
}

// Smoker runs the smoke test, in the foreground or as a job, and keeps the
// manual checklist and the results history in the state directory. It also
// builds the support bundle, from the same sources.
type Smoker struct {
	c SmokeConfig

	mu         sync.Mutex
	probeImage string // built once per process, under mu

	// latest is the job this process started last. The runner orders
	// jobs by their start time on the injectable clock, which a test may
	// hold still, so the process remembers its own.
	latestMu sync.Mutex
	latest   string
}

// NewSmoker returns a smoker.
func NewSmoker(c SmokeConfig) *Smoker {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Address == "" {
		c.Address = "127.0.0.1"
	}
	return &Smoker{c: c}
}

// Smoke runs the smoke test in the foreground and saves its results: the
// step is done when nothing failed; an overridable failure can be
// continued past with Continue, as on every step. When the test cannot
// run at all, its results say so.
func (s *Smoker) Smoke(ctx context.Context, st wizard.State) (Outcome, error) {
	results, err := s.run(ctx, st)
	if err != nil {
		s.c.Log.Warn("smoke test could not run", "err", err)
		results = []check.Result{{Step: "smoke", ID: "smoke.run", Status: check.Error, Measured: "not run", Required: "the smoke test passes",
			Message: "The smoke test could not run: " + smokeRunError(err), Hint: "The release's .env and docker-compose.yml must be readable."}}
	}
	return s.save(results)
}

// save records a smoke-test run in the state.
func (s *Smoker) save(results []check.Result) (Outcome, error) {
	run := wizard.NewCheckRun(s.c.Steps.d.Now(), results)
	st, _, err := s.c.Steps.save(func(st *wizard.State) wizard.FieldErrors {
		st.RecordRun(wizard.Smoke, run, false)
		if smokePassed(results) {
			st.MarkDone(wizard.Smoke)
		} else {
			delete(st.Done, wizard.Smoke)
		}
		return nil
	})
	return Outcome{State: st, Run: run}, err
}

func smokePassed(results []check.Result) bool {
	w := check.Worst(results)
	return w != check.Fail && w != check.Error
}

// installedError is what was installed could not be read: no domain or
// no certificate where .env says.
type installedError struct{ err error }

func (e *installedError) Error() string { return e.err.Error() }

// rootCAs is the pool the router's chain is verified against: the
// configured roots, plus the CAs of the installed chain when the admin
// continued past tls.chain (a private CA the system does not trust, which
// the admin accepted knowingly).
func (s *Smoker) rootCAs(st wizard.State, inst smoketest.Installed) *x509.CertPool {
	if _, ok := st.Overridden(certcheck.IDChain); !ok {
		return s.c.Steps.d.RootCAs
	}
	pool := x509.NewCertPool()
	if s.c.Steps.d.RootCAs != nil {
		pool = s.c.Steps.d.RootCAs.Clone()
	} else if sys, err := x509.SystemCertPool(); err == nil {
		pool = sys
	}
	rest := []byte(inst.CertPEM)
	for {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil && c.IsCA {
			pool.AddCert(c)
		}
	}
	return pool
}

// smokeRunError says in words why the smoke test could not run.
func smokeRunError(err error) string {
	var refused *deploy.RefusedError
	if errors.As(err, &refused) {
		return strings.TrimPrefix(refused.Error(), "deploy: plan refused: ")
	}
	var ie *installedError
	if errors.As(err, &ie) {
		return "what was installed could not be read: " + strings.TrimPrefix(ie.Error(), "smoketest: ")
	}
	return "the release's files (.env, docker-compose.yml) could not be read; the console log has the details"
}

// Start starts a smoke-test job for st and returns its ID, or jobs.ErrBusy
// while one runs. The job stores the results in the state and the
// history, and marks the step done when nothing failed.
func (s *Smoker) Start(st wizard.State) (string, error) {
	rec, err := s.c.Runner.Start(smokeJobKind, func(ctx context.Context, id string) error {
		results, err := s.run(ctx, st)
		if err != nil {
			s.c.Log.Warn("smoke test could not run", "job", id, "err", err)
			return errors.New("the smoke test could not run: " + smokeRunError(err))
		}
		out, err := s.save(results)
		if err != nil {
			return err
		}
		if err := s.keep(id, out.Run); err != nil {
			s.c.Log.Warn("smoke test history not saved", "job", id, "err", err)
		}
		if !smokePassed(results) {
			var ids []string
			for _, r := range results {
				if r.Status == check.Fail || r.Status == check.Error {
					ids = append(ids, r.ID)
				}
			}
			return fmt.Errorf("%d check(s) did not pass: %s", len(ids), strings.Join(ids, ", "))
		}
		return nil
	})
	if err == nil {
		s.latestMu.Lock()
		s.latest = rec.ID
		s.latestMu.Unlock()
	}
	return rec.ID, err
}

// keep writes the run into the history beside the install records.
func (s *Smoker) keep(id string, run wizard.CheckRun) error {
	dir := filepath.Join(s.c.StateDir, "history")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(struct {
		Job  string          `json:"job"`
		Kind string          `json:"kind"`
		Run  wizard.CheckRun `json:"run"`
	}{id, smokeJobKind, run}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "smoke-"+id+".json"), b, 0o600)
}

// run gathers what the smoke test expects from the state and the written
// release, and runs it.
func (s *Smoker) run(ctx context.Context, st wizard.State) ([]check.Result, error) {
	plan, err := deploy.NewPlan(st, s.c.ReleaseDir)
	if err != nil {
		return nil, err
	}
	env, err := s.dotEnv()
	if err != nil {
		return nil, err
	}
	var expected []string
	scales := plan.Scales()
	for _, svc := range plan.Services() {
		if n, ok := scales[svc]; !ok || n != 0 {
			expected = append(expected, svc)
		}
	}
	// The router is judged against what the install wrote (the domain
	// in .env, the certificate in certs/), never against the state,
	// which may have changed since: a smoke test must not pass an
	// install that serves another name.
	inst, err := smoketest.ReadInstalled(s.c.ReleaseDir, env)
	if err != nil {
		return nil, &installedError{err}
	}
	cfg := inst.Apply(smoketest.Config{
		Address:  s.c.Address,
		HTTPPort: envPort(env, "ROUTER_HTTP_PORT", 80), HTTPSPort: envPort(env, "ROUTER_HTTPS_PORT", 443),
		Services: plan.Services(), Scales: scales,
		Health:  smoketest.HealthTargets(env, expected),
		RootCAs: s.rootCAs(st, inst),
	})
	deps := smoketest.Deps{
		Database: func(ctx context.Context) []check.Result {
			return s.c.Steps.DatabaseChecks(ctx, DatabaseForm{DB: &st.Database, Cache: &st.Cache})
		},
		Buckets: func(ctx context.Context) []check.Result { return s.c.Steps.BucketsChecks(ctx, st.Buckets) },
	}
	eng, err := engine.New(ctx)
	if err != nil {
		s.c.Log.Warn("smoke test: Docker Engine not reachable", "err", err)
		deps.Containers = func(context.Context) ([]smoketest.Container, error) { return nil, err }
	} else {
		defer eng.Close()
		deps.Containers = func(ctx context.Context) ([]smoketest.Container, error) {
			return projectContainers(ctx, eng, s.c.Project)
		}
		deps.Probe = func(ctx context.Context, urls []string) ([]smoketest.Answer, error) { return s.probe(ctx, eng, urls) }
	}
	return smoketest.Run(ctx, deps, cfg), nil
}

// dotEnv reads the .env the install wrote.
func (s *Smoker) dotEnv() (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(s.c.ReleaseDir, deploy.DotEnvFile))
	if err != nil {
		return nil, fmt.Errorf("smoke: %w", err)
	}
	f, err := envfile.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("smoke: parse .env: %w", err)
	}
	env := map[string]string{}
	for _, k := range f.Keys() {
		env[k], _ = f.Get(k)
	}
	return env, nil
}

// envPort reads a port from .env, or def when it is unset or not a port.
func envPort(env map[string]string, key string, def int) int {
	if n, err := strconv.Atoi(strings.TrimSpace(env[key])); err == nil && n > 0 && n < 65536 {
		return n
	}
	return def
}

// projectContainers lists the project's containers with their exit codes.
func projectContainers(ctx context.Context, eng *engine.Client, project string) ([]smoketest.Container, error) {
	list, err := eng.ProjectContainers(ctx, project)
	if err != nil {
		return nil, err
	}
	out := make([]smoketest.Container, 0, len(list))
	for _, c := range list {
		sc := smoketest.Container{Service: c.Service, Name: c.Name, State: c.State}
		if info, err := eng.InspectContainer(ctx, c.ID); err == nil {
			sc.State, sc.ExitCode = info.State, info.ExitCode
		}
		out = append(out, sc)
	}
	return out, nil
}

// probe asks the health URLs from a short-lived container on the Compose
// network. The container is FROM scratch with only the static carto-setup
// executable, whose smoke-probe subcommand makes the requests: CARTO's
// images may have no curl, and nothing can be pulled, so exec'ing into a
// service or running a curl image would not work everywhere.
func (s *Smoker) probe(ctx context.Context, eng *engine.Client, urls []string) ([]smoketest.Answer, error) {
	image, err := s.ensureProbeImage(ctx, eng)
	if err != nil {
		return nil, err
	}
	out, code, err := eng.RunOnce(ctx, engine.RunSpec{
		Image: image, Cmd: urls, Network: s.c.Project + "_default",
		Labels: map[string]string{"org.carto-setup.role": "smoke-probe"},
	})
	if err != nil {
		return nil, err
	}
	if code != 0 {
		return nil, fmt.Errorf("smoke: probe exited with code %d: %s", code, strings.TrimSpace(string(out)))
	}
	return smoketest.ParseAnswers(out), nil
}

// probeDockerfile is the probe image's recipe.
const probeDockerfile = `FROM scratch
COPY carto-setup /carto-setup
LABEL org.opencontainers.image.title="carto-setup smoke-test probe"
USER 65534:65534
ENTRYPOINT ["/carto-setup", "` + smoketest.ProbeCommand + `"]
`

// ensureProbeImage builds the probe image once, tagged by the executable's
// hash so that a new carto-setup gets a new image.
func (s *Smoker) ensureProbeImage(ctx context.Context, eng *engine.Client) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.probeImage != "" {
		return s.probeImage, nil
	}
	exe, err := os.ReadFile(s.c.ProbeBinary)
	if err != nil {
		return "", fmt.Errorf("smoke: read %s: %w", s.c.ProbeBinary, err)
	}
	sum := sha256.Sum256(exe)
	tag := "carto-setup-probe:" + hex.EncodeToString(sum[:6])
	ok, err := eng.ImageExists(ctx, tag)
	if err != nil {
		return "", err
	}
	if !ok {
		if err := eng.BuildImage(ctx, tag, map[string]engine.BuildFile{"carto-setup": {Data: exe, Mode: 0o755}}, probeDockerfile, nil); err != nil {
			return "", err
		}
		// A new carto-setup built a new probe image: the old ones go.
		if removed, err := images.PruneBuilt(ctx, eng, tag, time.Now()); err != nil {
			s.c.Log.Warn("could not prune old probe images", "err", err)
		} else if len(removed) > 0 {
			s.c.Log.Info("pruned superseded probe images", "images", removed)
		}
	}
	s.probeImage = tag
	return tag, nil
}

// Latest is the record of the most recent smoke-test job.
func (s *Smoker) Latest() (jobs.Record, bool) {
	s.latestMu.Lock()
	id := s.latest
	s.latestMu.Unlock()
	rec, ok := s.c.Runner.Get(id)
	if !ok {
		rec, ok = s.c.Runner.Latest(smokeJobKind)
	}
	return rec, ok
}

func (s *Smoker) checklistPath() string { return filepath.Join(s.c.StateDir, "checklist.json") }

// Checklist returns the saved ticks of the manual checklist.
func (s *Smoker) Checklist() (map[string]bool, error) {
	b, err := os.ReadFile(s.checklistPath())
	if errors.Is(err, os.ErrNotExist) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checklist: %w", err)
	}
	ticks := map[string]bool{}
	if err := json.Unmarshal(b, &ticks); err != nil {
		return nil, fmt.Errorf("checklist: %w", err)
	}
	return ticks, nil
}

// SaveChecklist replaces the saved ticks.
func (s *Smoker) SaveChecklist(ticks map[string]bool) error {
	b, err := json.MarshalIndent(ticks, "", "  ")
	if err != nil {
		return fmt.Errorf("checklist: %w", err)
	}
	return atomicfile.WriteFile(s.checklistPath(), b, 0o600)
}
