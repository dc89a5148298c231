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
	"os"
	"path/filepath"
	"time"

	"github.com/carto-setup/carto-setup/internal/auth"
	"github.com/carto-setup/carto-setup/internal/demo/standin"
	"github.com/carto-setup/carto-setup/internal/jobs"
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
// name) until ctx is cancelled or the subcommand finishes.
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
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, rest, getenv, stdout, stderr, o)
	case "token":
		err = newToken(rest, getenv, stdout, stderr)
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
	case "env":
		err = runEnv(ctx, rest, stdout, stderr)
	case "check":
		err = runCheck(ctx, rest, getenv, stdout, stderr, o)
	case "apply":
		err = runApply(ctx, rest, getenv, stdout, stderr, o)
	case "answers":
		err = runAnswers(rest, getenv, stdout, stderr, o)
	case smoketest.ProbeCommand:
		err = smokeProbe(ctx, rest, stdout) // inside the smoke test's probe container
	case "version":
		fmt.Fprintln(stdout, "carto-setup", Version)
	case "help":
		fmt.Fprint(stdout, usage)
	default:
		err = fmt.Errorf("unknown command %q\n\n%s", cmd, usage)
	}
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}

const usage = `Usage:
  carto-setup [--dir DIR] [--state-dir DIR] [--listen ADDR] [--demo]
        serve the setup wizard (default :8443, HTTPS)
  carto-setup token [--dir DIR] [--state-dir DIR]
        print new sign-in URLs with a new token; ends every session
  carto-setup env --dir DIR [--ignore-checks]
        generate .env as install.sh does, with its warnings as real failures
  carto-setup check [STEP ...] --answers FILE [--json] [--dir DIR] [--state-dir DIR]
        run the checks of the steps (preflight, package, domain, database, cache,
        tls, buckets; all when none is named) on an answers file; exit 1 when a
        check failed, 2 when the answers file is invalid
  carto-setup apply --answers FILE [--json] [--dir DIR] [--state-dir DIR] [--expect-timeout D]
        check everything, then install as the wizard does; exit 0 only on success
  carto-setup answers [--dir DIR] [--state-dir DIR]
        print the wizard's answers as an answers file (secrets as files in the
        state directory)
  carto-setup version
`

// serve runs the wizard until ctx is done.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, o options) error {
	cfg, _, err := loadConfig("carto-setup", args, getenv, stderr, nil)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if cfg.Demo {
		if err := prepareDemo(&cfg, stdout); err != nil {
			return err
		}
	}
	if err := ensureStateDir(cfg.StateDir); err != nil {
		return err
	}
	a, token, err := auth.Open(cfg.StateDir, o.now)
	if err != nil {
		return err
	}
	id := localIdentity()
	cert, fingerprint, err := wizardCertificate(cfg.StateDir, id, o.now())
	if err != nil {
		return err
	}
	store := wizard.NewFileStore(filepath.Join(cfg.StateDir, "state.json"), o.now)
	if n, err := store.RemoveStaleTemps(); err != nil {
		return err
	} else if n > 0 {
		log.Info("removed temporary state files left by an interrupted save", "count", n)
	}
	if _, err := store.Load(); err != nil {
		return err // a damaged or newer state file: say so before serving
	}
	lv, err := newLive(cfg, log, o.now, liveOptions{})
	if err != nil {
		return err
	}
	defer lv.Close()
	if cfg.Demo && cfg.StandinBinary == "" {
		if cfg.StandinBinary, err = os.Executable(); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	jobCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopJobs()
	runner, err := jobs.NewRunner(jobCtx, filepath.Join(cfg.StateDir, "jobs"), o.now)
	if err != nil {
		return err
	}
	inst := newInstaller(log, runner, store, cfg, o.now)
	smoke := newSmoker(log, runner, store, cfg, o.now)
	handler := server.NewHandler(server.Deps{
		Log: log, Auth: a, Throttle: auth.NewThrottle(o.now), Store: store, Now: o.now,
		HostNames: id.allowedHosts(), SelfSigned: true,
		ReleaseDir: cfg.Dir, Checks: checkers(cfg, getenv, store, lv.acme),
		Steps:         steps.New(stepDeps(cfg, log, o.now, lv), store),
		ACMEDirectory: cfg.ACMEDirectory, ACMETimeout: 3 * time.Minute,
		Installer: inst, Smoke: smoke, Bundle: smoke,
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
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}

	fmt.Fprintf(stdout, "carto-setup %s: wizard for %s\n", Version, cfg.Dir)
	fmt.Fprintf(stdout, "Listening on https://%s (self-signed certificate)\n", ln.Addr())
	fmt.Fprintf(stdout, "Certificate SHA-256 fingerprint: %s\n", fingerprint)
	printSignIn(stdout, id.signInURLs(ln.Addr(), token), cfg.StateDir)

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

func printSignIn(w io.Writer, urls []string, stateDir string) {
	fmt.Fprintln(w, "Sign in by opening one of these URLs in your browser:")
	for _, u := range urls {
		fmt.Fprintln(w, "  "+u)
	}
	fmt.Fprintf(w, "The token is also in %s (readable only by you).\n", filepath.Join(stateDir, auth.TokenFile))
}

// newToken replaces the token, which ends every session, including those of
// a wizard that is already running.
func newToken(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, _, err := loadConfig("carto-setup token", args, getenv, stderr, nil)
	if err != nil {
		return err
	}
	if err := ensureStateDir(cfg.StateDir); err != nil {
		return err
	}
	a, _, err := auth.Open(cfg.StateDir, time.Now)
	if err != nil {
		return err
	}
	tok, err := a.NewToken()
	if err != nil {
		return err
	}
	addr, err := net.ResolveTCPAddr("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	fmt.Fprintln(stdout, "New token issued; every earlier session has ended.")
	printSignIn(stdout, localIdentity().signInURLs(addr, tok), cfg.StateDir)
	return nil
}
