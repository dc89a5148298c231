package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/carto-setup/carto-setup/internal/auth"
	"github.com/carto-setup/carto-setup/internal/cli"
	"github.com/carto-setup/carto-setup/internal/config"
	"github.com/carto-setup/carto-setup/internal/demo/standin"
	"github.com/carto-setup/carto-setup/internal/hostid"
	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/logsummary"
	"github.com/carto-setup/carto-setup/internal/redact"
	"github.com/carto-setup/carto-setup/internal/relay"
	"github.com/carto-setup/carto-setup/internal/server"
	"github.com/carto-setup/carto-setup/internal/smoketest"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// Version is set at build time with -ldflags "-X ...app.Version=...".
var Version = "dev"

// Option changes how Run runs; tests use it to inject a clock.
type Option func(*options)

type options struct {
	now func() time.Time
}

// WithClock makes the program use now instead of the wall clock for
// sessions, sign-in lockouts and timestamps.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// Run runs carto-setup with the given arguments (args[0] is the program
// name) until ctx is cancelled or the command finishes. A command's exit
// status travels in an error with an ExitCode method.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, opts ...Option) error {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	rest := args[1:]
	cmd := "serve"
	if len(rest) > 0 && len(rest[0]) > 0 && rest[0][0] != '-' {
		cmd, rest = rest[0], rest[1:]
	}
	env := newEnv(getenv, stdout, stderr, o)
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, env, rest)
	case "token":
		err = cli.Token(env, rest)
	case "sessions":
		err = cli.Sessions(env, rest)
	case "env":
		err = cli.EnvCommand(ctx, env, rest)
	case "check":
		err = cli.Check(ctx, env, rest)
	case "apply":
		err = cli.Apply(ctx, env, rest)
	case "answers":
		err = cli.Answers(env, rest)
	case "export":
		err = cli.Export(env, rest)
	case "renew":
		err = cli.Renew(ctx, env, rest)
	case "images":
		err = cli.Images(ctx, env, rest)
	case "version":
		err = cli.Version(env, rest)
	case "upgrade":
		err = cli.Upgrade(ctx, env, rest)
	case "history":
		err = cli.History(env, rest)
	case "restore":
		err = cli.Restore(ctx, env, rest)
	case "smoke":
		err = cli.Smoke(ctx, env, rest)
	case "down":
		err = cli.Down(ctx, env, rest)
	case "logs":
		err = cli.Logs(env, rest)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	case "standin":
		// The stand-in CARTO services run from this same binary inside
		// the demo's FROM-scratch image; see internal/demo/standin.
		if code := standin.Main(ctx, rest, getenv, stdout, stderr); code != 0 {
			return fmt.Errorf("standin exited with status %d", code)
		}
	case "relay":
		// Inside the port-80 relay container; see domaincheck.ContainerPort80.
		if code := relay.Main(ctx, rest, stdout, stderr); code != 0 {
			return fmt.Errorf("relay exited with status %d", code)
		}
	case smoketest.ProbeCommand:
		err = cli.SmokeProbe(ctx, rest, stdout) // inside the smoke test's probe container
	default:
		err = fmt.Errorf("unknown command %q\n\n%s", cmd, usage)
	}
	if errors.Is(err, cli.ErrHelp) {
		return nil
	}
	return err
}

const usage = `Usage:
  carto-setup [--dir DIR] [--state-dir DIR] [--listen ADDR] [--demo]
        serve the setup wizard (default :8443, HTTPS)
` + cli.TokenUsage + cli.SessionsUsage + cli.EnvUsage + cli.CheckUsage + cli.ApplyUsage + cli.AnswersUsage + cli.ExportUsage + cli.RenewUsage + cli.ImagesUsage + cli.VersionUsage +
	cli.UpgradeUsage + cli.HistoryUsage + cli.RestoreUsage +
	cli.SmokeUsage + cli.DownUsage + cli.LogsUsage

// newEnv is what every command gets: the streams, the environment, the
// clock, the version, and the one constructor of the live checks.
func newEnv(getenv func(string) string, stdout, stderr io.Writer, o options) cli.Env {
	env := cli.Env{Stdout: stdout, Stderr: stderr, Getenv: getenv, Now: o.now, Version: Version}
	env.Wire = func(ctx context.Context, cfg config.Config, log *slog.Logger, wo cli.WireOptions) (*cli.Wiring, error) {
		if wo.Output == nil {
			wo.Output = stderr
		}
		return wire(ctx, cfg, getenv, log, o.now, wo)
	}
	return env
}

// serve runs the wizard until ctx is done.
func serve(ctx context.Context, env cli.Env, args []string) error {
	cfg, err := config.Load(args, env.Getenv)
	if errors.Is(err, config.ErrHelp) {
		fmt.Fprint(env.Stdout, usage)
		return nil
	}
	if err != nil {
		return err
	}
	// The console masks the secrets of the state as the admin enters them.
	secrets := steps.NewStateSecrets()
	log := redact.NewLogger(env.Stderr, nil, secrets.Current)
	now := env.Now
	w, err := env.Wire(ctx, cfg, log, cli.WireOptions{Output: env.Stdout})
	if err != nil {
		return err
	}
	defer w.Close()
	cfg = w.Config
	secrets.Watch(cfg.StatePath())
	if err := cfg.EnsureStateDir(); err != nil {
		return err
	}
	a, token, err := auth.Open(cfg.StateDir, now)
	if err != nil {
		return err
	}
	id := hostid.Local()
	cert, fingerprint, err := wizardCertificate(cfg.StateDir, id, now())
	if err != nil {
		return err
	}
	store := wizard.NewFileStore(cfg.StatePath(), now)
	if n, err := store.RemoveStaleTemps(); err != nil {
		return err
	} else if n > 0 {
		log.Info("removed temporary state files left by an interrupted save", "count", n)
	}
	st0, err := store.Load()
	if err != nil {
		return err // a damaged or newer state file: say so before serving
	}
	if cfg.Demo {
		startDemoDatabase(ctx, cfg, store, env.Stdout)
	}
	logs, states := withLogs(cfg, st0, store, log)
	if logs != nil {
		defer logs.Close()
	}
	jobCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopJobs()
	statusReader, stopStatus := startStatus(jobCtx, cfg, log)
	defer stopStatus()
	runner, err := jobs.NewRunner(jobCtx, filepath.Join(cfg.StateDir, "jobs"), now)
	if err != nil {
		return err
	}
	// Refused requests and failed handshakes are counted and summarised
	// once a minute (and at shutdown), never written one line each.
	sum := logsummary.New(log, logsummary.Config{})
	sumCtx, stopSum := context.WithCancel(context.WithoutCancel(ctx))
	sumDone := make(chan struct{})
	go func() { defer close(sumDone); sum.Run(sumCtx) }()
	defer func() { stopSum(); <-sumDone }()
	st := steps.New(w.Steps, states)
	smoke := steps.NewSmoker(steps.SmokeConfig{Log: log, Runner: runner, Steps: st, ReleaseDir: cfg.Dir, StateDir: cfg.StateDir,
		Project: cfg.Project, ProbeBinary: w.ProbeBinary, Address: w.Address, Version: Version})
	hist, upgrades, err := upgradeJobs(cfg, w, log, now, st, runner)
	if err != nil {
		return err
	}
	handler := server.NewHandler(server.Deps{
		Log: log, Auth: a, Throttle: a.NewThrottle(), Store: states, Now: now, Logs: logs.forPages(),
		HostNames: id.AllowedHosts(), SelfSigned: true, Steps: st, ACMEDirectory: cfg.ACMEDirectory,
		Installer: steps.NewInstaller(steps.InstallConfig{Log: log, Runner: runner, Store: states, ReleaseDir: cfg.Dir, StateDir: cfg.StateDir,
			Project: cfg.Project, Expect: cfg.Expect, Now: now, Images: w.Images, History: hist, Logs: logs.forInstall()}),
		Smoke: smoke, Bundle: smoke, Upgrade: upgrades, Status: statusReader, Refusals: sum,
		Images: steps.NewBundles(steps.BundlesConfig{Log: log, Runner: runner, Store: store, ReleaseDir: cfg.Dir, StateDir: cfg.StateDir}),
	})

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute, // uploads of a few MB on a slow link
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          sum.ErrorLog(),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}

	fmt.Fprintf(env.Stdout, "carto-setup %s: wizard for %s\n", Version, cfg.Dir)
	fmt.Fprintf(env.Stdout, "Listening on https://%s (self-signed certificate)\n", ln.Addr())
	fmt.Fprintf(env.Stdout, "Certificate SHA-256 fingerprint: %s\n", fingerprint)
	cli.PrintSignIn(env.Stdout, id.SignInURLs(ln.Addr(), token), cfg.StateDir)

	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		// A browser still holding a request open: close it rather than
		// hang; nothing it could be doing needs to finish.
		log.Warn("closing connections that did not finish in time", "err", err)
		srv.Close()
	}
	// A running install is stopped; its record says so and the admin can
	// apply again after the restart.
	stopJobs()
	runner.Wait()
	return nil
}
