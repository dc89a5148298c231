package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
	"github.com/carto-setup/carto-setup/internal/buckets"
	"github.com/carto-setup/carto-setup/internal/bundle"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/smoketest"
	"github.com/carto-setup/carto-setup/internal/wizard"
	"github.com/carto-setup/carto-setup/web"
)

// smokeJobKind is the jobs kind of a smoke-test run.
const smokeJobKind = "smoke"

// probeTimeout bounds each request the in-network probe makes.
const probeTimeout = 5 * time.Second

// bundleLogLines is how many of each container's last log lines the
// support bundle carries.
const bundleLogLines = 200

// smoker runs the smoke test as a job and keeps the manual checklist and
// the results history in the state directory. It also builds the support
// bundle, from the same sources.
type smoker struct {
	log        *slog.Logger
	runner     *jobs.Runner
	store      wizard.Store
	releaseDir string
	stateDir   string
	project    string
	// probeBinary is a static carto-setup executable: the in-network
	// probe runs it in a FROM-scratch image.
	probeBinary string
	address     string // this VM's address, where the router's ports are published
	now         func() time.Time

	mu         sync.Mutex
	probeImage string // built once per process, under mu

	// latest is the job this process started last. The runner orders
	// jobs by their start time on the injectable clock, which a test may
	// hold still, so the process remembers its own.
	latestMu sync.Mutex
	latest   string
}

func newSmoker(log *slog.Logger, runner *jobs.Runner, store wizard.Store, cfg Config, now func() time.Time) *smoker {
	bin := cfg.StandinBinary
	if bin == "" {
		bin, _ = os.Executable()
	}
	addr := "127.0.0.1"
	if ips := localIdentity().IPs; len(ips) > 0 {
		addr = ips[0].String()
	}
	return &smoker{log: log, runner: runner, store: store, releaseDir: cfg.Dir, stateDir: cfg.StateDir, project: cfg.Project,
		probeBinary: bin, address: addr, now: now}
}

// Start starts a smoke-test job. The job stores the results in the state
// and the history, and marks the step done when nothing failed.
func (s *smoker) Start(st wizard.State) (string, error) {
	rec, err := s.runner.Start(smokeJobKind, func(ctx context.Context, id string) error {
		results, err := s.run(ctx, st)
		if err != nil {
			s.log.Warn("smoke test could not run", "job", id, "err", err)
			var refused *deploy.RefusedError
			if errors.As(err, &refused) {
				return errors.New("the smoke test could not run: " + strings.TrimPrefix(refused.Error(), "deploy: plan refused: "))
			}
			return errors.New("the smoke test could not run: the release's files (.env, docker-compose.yml) could not be read; the console log has the details")
		}
		run := wizard.NewCheckRun(s.now(), results)
		w := check.Worst(results)
		passed := w != check.Fail && w != check.Error
		if _, err := s.store.Update(func(st *wizard.State) error {
			st.SetChecks(wizard.Smoke, run)
			if passed {
				st.MarkDone(wizard.Smoke)
			} else {
				delete(st.Done, wizard.Smoke)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := s.keep(id, run); err != nil {
			s.log.Warn("smoke test history not saved", "job", id, "err", err)
		}
		if !passed {
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
func (s *smoker) keep(id string, run wizard.CheckRun) error {
	dir := filepath.Join(s.stateDir, "history")
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
func (s *smoker) run(ctx context.Context, st wizard.State) ([]check.Result, error) {
	plan, err := deploy.NewPlan(st, s.releaseDir)
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
	cfg := smoketest.Config{
		Domain: st.Domain.Domain, Address: s.address,
		HTTPPort: envPort(env, "ROUTER_HTTP_PORT", 80), HTTPSPort: envPort(env, "ROUTER_HTTPS_PORT", 443),
		Services: plan.Services(), Scales: scales,
		CertPEM: st.TLS.CertPEM, SelfSigned: st.TLS.Mode == wizard.TLSSelfSigned,
		Health: smoketest.HealthTargets(env, expected),
	}
	deps := smoketest.Deps{
		Database: func(ctx context.Context) []check.Result { return databaseChecks(ctx, st.Database, st.Cache) },
		Buckets: func(ctx context.Context) []check.Result {
			if st.Buckets.Mode == "" || st.Buckets.Mode == wizard.BucketsCartoManaged {
				return []check.Result{{Step: "buckets", ID: "buckets.carto_managed", Status: check.Pass, Message: "CARTO manages the buckets: nothing to check."}}
			}
			return buckets.Run(ctx, bucketsConfig(st.Buckets))
		},
	}
	eng, err := engine.New(ctx)
	if err != nil {
		s.log.Warn("smoke test: Docker Engine not reachable", "err", err)
		deps.Containers = func(context.Context) ([]smoketest.Container, error) { return nil, err }
	} else {
		defer eng.Close()
		deps.Containers = func(ctx context.Context) ([]smoketest.Container, error) {
			return projectContainers(ctx, eng, s.project)
		}
		deps.Probe = func(ctx context.Context, urls []string) ([]smoketest.Answer, error) { return s.probe(ctx, eng, urls) }
	}
	return smoketest.Run(ctx, deps, cfg), nil
}

// dotEnv reads the .env the install wrote.
func (s *smoker) dotEnv() (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(s.releaseDir, deploy.DotEnvFile))
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
func (s *smoker) probe(ctx context.Context, eng *engine.Client, urls []string) ([]smoketest.Answer, error) {
	image, err := s.ensureProbeImage(ctx, eng)
	if err != nil {
		return nil, err
	}
	out, code, err := eng.RunOnce(ctx, engine.RunSpec{
		Image: image, Cmd: urls, Network: s.project + "_default",
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
func (s *smoker) ensureProbeImage(ctx context.Context, eng *engine.Client) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.probeImage != "" {
		return s.probeImage, nil
	}
	exe, err := os.ReadFile(s.probeBinary)
	if err != nil {
		return "", fmt.Errorf("smoke: read %s: %w", s.probeBinary, err)
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
	}
	s.probeImage = tag
	return tag, nil
}

// Latest is the most recent smoke-test job.
func (s *smoker) Latest() (web.SmokeJob, bool) {
	s.latestMu.Lock()
	id := s.latest
	s.latestMu.Unlock()
	rec, ok := s.runner.Get(id)
	if !ok {
		rec, ok = s.runner.Latest(smokeJobKind)
	}
	if !ok {
		return web.SmokeJob{}, false
	}
	return web.SmokeJob{ID: rec.ID, Status: string(rec.Status), Error: rec.Error, Started: rec.Started, Ended: rec.Ended}, true
}

func (s *smoker) checklistPath() string { return filepath.Join(s.stateDir, "checklist.json") }

// Checklist returns the saved ticks of the manual checklist.
func (s *smoker) Checklist() (map[string]bool, error) {
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
func (s *smoker) SaveChecklist(ticks map[string]bool) error {
	b, err := json.MarshalIndent(ticks, "", "  ")
	if err != nil {
		return fmt.Errorf("checklist: %w", err)
	}
	return atomicfile.WriteFile(s.checklistPath(), b, 0o600)
}

// Build collects the support bundle: the state, the release's env files,
// the check results and job history, Docker's version, info and container
// status, and each container's last log lines, all masked by package
// bundle.
func (s *smoker) Build(ctx context.Context) (*bundle.Bundle, error) {
	st, err := s.store.Load()
	if err != nil {
		return nil, err
	}
	stateJSON, err := bundle.StateJSON(st)
	if err != nil {
		return nil, err
	}
	files := []bundle.File{{Name: "wizard-state.json", Data: stateJSON}}
	for _, name := range []string{deploy.CustomerEnvFile, deploy.DotEnvFile} {
		if b, err := os.ReadFile(filepath.Join(s.releaseDir, name)); err == nil {
			files = append(files, bundle.File{Name: "release/" + name, Data: b, Env: true})
		}
	}
	checks, _ := json.MarshalIndent(struct {
		Checks    map[wizard.Step]wizard.CheckRun `json:"checks"`
		Overrides []wizard.Override               `json:"overrides"`
	}{st.Checks, st.Overrides}, "", "  ")
	files = append(files, bundle.File{Name: "checks.json", Data: checks})
	files = append(files, s.history()...)

	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	files = append(files, s.dockerFiles(dctx)...)
	return bundle.Build(files, bundle.StateSecrets(st), Version, s.now())
}

// history returns the job records and the smoke-test results kept in the
// state directory.
func (s *smoker) history() []bundle.File {
	var files []bundle.File
	for _, dir := range []string{"jobs", "history"} {
		entries, _ := os.ReadDir(filepath.Join(s.stateDir, dir))
		for _, e := range entries {
			if e.Type().IsRegular() && filepath.Ext(e.Name()) == ".json" {
				if b, err := os.ReadFile(filepath.Join(s.stateDir, dir, e.Name())); err == nil {
					files = append(files, bundle.File{Name: dir + "/" + e.Name(), Data: b})
				}
			}
		}
	}
	return files
}

// dockerFiles returns Docker's version and info, the Compose project's
// container status and the containers' last log lines; when Docker is not
// reachable, a note that says so.
func (s *smoker) dockerFiles(ctx context.Context) []bundle.File {
	eng, err := engine.New(ctx)
	if err != nil {
		s.log.Warn("support bundle: Docker Engine not reachable", "err", err)
		return []bundle.File{{Name: "docker/unreachable.txt", Data: []byte("The Docker Engine could not be reached when this bundle was made.\n")}}
	}
	defer eng.Close()
	asJSON := func(v any) []byte { b, _ := json.MarshalIndent(v, "", "  "); return b }
	var files []bundle.File
	if v, err := eng.Version(ctx); err == nil {
		files = append(files, bundle.File{Name: "docker/version.json", Data: asJSON(v)})
	}
	if v, err := eng.Info(ctx); err == nil {
		files = append(files, bundle.File{Name: "docker/info.json", Data: asJSON(v)})
	}
	list, err := eng.ProjectContainers(ctx, s.project)
	if err != nil {
		return files
	}
	var status []engine.ContainerInfo
	for _, c := range list {
		info, err := eng.InspectContainer(ctx, c.ID)
		if err != nil {
			info = c
		}
		status = append(status, info)
		if lines, err := recentLines(ctx, eng, c.ID, info.Tty); err == nil {
			files = append(files, bundle.File{Name: "logs/" + c.Name + ".log", Data: []byte(strings.Join(lines, "\n") + "\n")})
		}
	}
	slices.SortFunc(status, func(a, b engine.ContainerInfo) int { return strings.Compare(a.Name, b.Name) })
	files = append(files, bundle.File{Name: "docker/compose-status.json", Data: asJSON(struct {
		Project    string                 `json:"project"`
		Containers []engine.ContainerInfo `json:"containers"`
	}{s.project, status})})
	return files
}

// recentLines reads a container's last log lines, tagged with their stream.
func recentLines(ctx context.Context, eng *engine.Client, id string, tty bool) ([]string, error) {
	rc, err := eng.RecentLogs(ctx, id, bundleLogLines)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	dec := logstream.NewDecoder(rc, tty, false)
	var lines []string
	for {
		rec, err := dec.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return lines, nil
			}
			return lines, err
		}
		lines = append(lines, rec.Stream.String()+" | "+string(rec.Text))
	}
}

// smokeProbe is the smoke-probe subcommand, run inside the probe container
// on the Compose network: it asks each URL argument and prints the answers.
func smokeProbe(ctx context.Context, args []string, stdout io.Writer) error {
	for _, u := range args {
		if !strings.HasPrefix(u, "http://") {
			return fmt.Errorf("smoke-probe: %q is not an http:// URL", u)
		}
		if _, _, err := net.SplitHostPort(strings.SplitN(strings.TrimPrefix(u, "http://"), "/", 2)[0]); err != nil {
			return fmt.Errorf("smoke-probe: %q has no port", u)
		}
	}
	return smoketest.Probe(ctx, args, probeTimeout, stdout)
}
