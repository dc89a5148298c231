package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/renew"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// RenewUsage documents `carto-setup renew`.
const RenewUsage = `  carto-setup renew [--dir DIR] [--state-dir DIR] [--within 720h] [--project NAME] [--wait D]
        [--http-addr ADDR] [--acme-ca-file F] [--resolver HOST:PORT]
        renew the router's Let's Encrypt certificate when it expires within
        --within: stops router-http, answers the challenge on port 80, writes
        certs/, starts router-http; exit 1 when it failed (the old one stays)
        or another install holds the state directory (--wait D waits for it)
`

// Renew is `carto-setup renew`, run from a systemd timer or cron. It prints
// one line on stdout when the certificate was renewed or was not due, and
// the reason on stderr when the renewal failed, which makes the process
// exit with status 1.
func Renew(ctx context.Context, env Env, args []string) error {
	return RenewWith(ctx, env, args, nil)
}

// RenewWith is Renew with another router than the install's Docker
// Compose (nil); tests stand one in for router-http.
func RenewWith(ctx context.Context, env Env, args []string, router renew.Router) error {
	var within, wait time.Duration
	cfg, rest, err := parse("carto-setup renew", RenewUsage, args, env.Getenv, env.Stderr, func(fs *flag.FlagSet) {
		fs.DurationVar(&within, "within", renew.DefaultWithin, "renew when the certificate expires within this duration")
		waitFlag(fs, &wait)
	})
	if err != nil {
		return err
	}
	if err := noArgs("carto-setup renew", rest, env.Stderr); err != nil {
		return err
	}
	if within <= 0 {
		fmt.Fprintf(env.Stderr, "carto-setup renew: --within must be positive, not %s\n", within)
		return ExitInvalid
	}
	if !compose.ValidProjectName(cfg.Project) {
		fmt.Fprintf(env.Stderr, "carto-setup renew: --project: %q is not a valid Compose project name\n", cfg.Project)
		return ExitInvalid
	}
	if _, err := os.Stat(cfg.StatePath()); errors.Is(err, os.ErrNotExist) {
		// A timer pointed at the wrong directory must not succeed quietly.
		fmt.Fprintf(env.Stderr, "carto-setup renew: no wizard state at %s: pass --dir or --state-dir\n", cfg.StatePath())
		return ExitFailed
	}
	// The renewal stops and starts router-http and writes certs/: never
	// beside an install.
	lock, err := lockInstall(ctx, env, "carto-setup renew", cfg.StateDir, steps.HolderRenew, wait)
	if err != nil {
		return err
	}
	defer lock.Release()
	if err := lock.StopLeftovers(ctx, cfg.Project, env.Stderr); err != nil {
		fmt.Fprintln(env.Stderr, "carto-setup renew: FAILED:", err)
		return ExitFailed
	}
	if router == nil {
		router = &composeRouter{dir: cfg.Dir, project: cfg.Project, lookPath: exec.LookPath, run: compose.Exec}
	}
	log, secrets := consoleLogger(env, slog.LevelInfo)
	// Only the challenges are answered: nothing else is served while the
	// router is down.
	w, err := env.Wire(ctx, cfg, log, WireOptions{ChallengesOnly: true, Output: env.Stderr})
	if err != nil {
		return err
	}
	defer w.Close()
	secrets.Watch(cfg.StatePath())
	deps := renew.Deps{
		Store:  wizard.NewFileStore(cfg.StatePath(), env.Now),
		Router: router,
		Issue: func(ctx context.Context, domain, email, directory string, account []byte) ([]byte, []byte, []byte, error) {
			// router-http is started right after this returns and needs
			// the port back.
			defer w.ClosePort80()
			return w.Steps.ACME.Obtain(ctx, domain, email, directory, account)
		},
		Resolve: w.Resolver.LookupHost,
		Now:     env.Now,
	}
	res, err := renew.Run(ctx, deps, renew.Config{ReleaseDir: cfg.Dir, StateDir: cfg.StateDir, Within: within, Directory: cfg.ACMEDirectory})
	reportRenewal(env.Stdout, env.Stderr, res, err)
	if err != nil {
		log.Warn("renewal failed", "err", err)
		return ExitFailed
	}
	return nil
}

// reportRenewal says what a renewal did, in words for a cron mail or the
// journal.
func reportRenewal(stdout, stderr io.Writer, res renew.Result, err error) {
	switch res.Status {
	case renew.StatusNotACME:
		mode := res.Mode
		if mode == "" {
			mode = "not chosen yet"
		}
		fmt.Fprintf(stdout, "carto-setup renew: nothing to renew: the router certificate is not from Let's Encrypt (TLS mode: %s).\n", mode)
	case renew.StatusNotDue:
		fmt.Fprintf(stdout, "carto-setup renew: not due for %s: %s.\n", res.Domain, res.Reason)
	case renew.StatusRenewed:
		where := "in certs/ and the wizard's state; router-http restarted"
		if !res.Installed {
			where = "in the wizard's state (not installed yet, so certs/ was left alone)"
		}
		fmt.Fprintf(stdout, "carto-setup renew: renewed the certificate for %s (%s): valid until %s, SHA-256 %s; saved %s.\n",
			res.Domain, res.Reason, res.NotAfter.UTC().Format(time.RFC3339), res.Fingerprint, where)
	}
	if err == nil {
		return
	}
	var re *renew.Error
	msg := "The renewal failed. The old certificate stays in place."
	if errors.As(err, &re) {
		msg = re.Message()
	}
	fmt.Fprintf(stderr, "carto-setup renew: FAILED for %s: %s\n", orNone(res.Domain), msg)
}

func orNone(s string) string {
	if s == "" {
		return "(no domain)"
	}
	return s
}

// composeRouter stops and starts router-http with the host's Docker
// Compose, under the install's pinned project name.
type composeRouter struct {
	dir, project string
	lookPath     compose.LookPathFunc
	run          compose.RunFunc
	tool         *compose.Tool
}

// Stop stops router-http, which frees port 80.
func (r *composeRouter) Stop(ctx context.Context) error {
	return r.do(ctx, "stop", renew.RouterService)
}

// Start starts router-http again; it reads the certificate files as it
// starts.
func (r *composeRouter) Start(ctx context.Context) error {
	return r.do(ctx, "start", renew.RouterService)
}

func (r *composeRouter) do(ctx context.Context, sub ...string) error {
	if r.tool == nil {
		tool, err := compose.Detect(ctx, r.lookPath, r.run)
		if err != nil {
			return err
		}
		r.tool = &tool
	}
	argv := r.tool.Args(r.project, r.dir, sub...)
	out, err := r.run(ctx, argv[0], argv[1:]...)
	if err != nil {
		return fmt.Errorf("compose %s: %w: %s", strings.Join(sub, " "), err, lastLines(out, 5))
	}
	return nil
}

// lastLines returns the last n lines of Compose's output, where it says
// what went wrong.
func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(bytes.ReplaceAll(out, []byte("\r"), nil))), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}
