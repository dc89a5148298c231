package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Config is how one run of carto-setup is set up.
type Config struct {
	Dir      string // the carto-selfhosted checkout (release directory)
	StateDir string // carto-setup's own state; default Dir/.carto-setup
	Listen   string // address of the wizard, default :8443
	Demo     bool   // prepare and use a stand-in release
	// HTTPAddr is where the wizard answers plain HTTP while a step needs
	// it (domain nonces, ACME challenges): port 80, as the internet sees it.
	HTTPAddr string
	// Resolver is a DNS server (host:port) for the domain checks; empty
	// means the system resolver.
	Resolver string
	// ACMEDirectory is the default ACME directory; ACMECAFile is a PEM CA
	// to trust for it (a private ACME server such as step-ca or Pebble).
	ACMEDirectory string
	ACMECAFile    string
	// Project is the pinned Docker Compose project name.
	Project string
	// StandinBinary is a static carto-setup executable to build the
	// stand-in images from: setting it says the release is the stand-in.
	// With --demo, empty means this executable.
	StandinBinary string
	// Expect bounds the wait for every service to reach its state.
	Expect time.Duration
	// PullStall is how long an image pull may move no byte before it is
	// stopped and its cause named; 0 means 2 minutes.
	PullStall time.Duration
	// LogHistoryMiB caps the log history kept on disk per service.
	LogHistoryMiB int
}

// LetsEncrypt is the default ACME directory.
const LetsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

// ErrHelp is returned when -h or --help was asked for; the usage has been
// printed.
var ErrHelp = flag.ErrHelp

// Defaults returns the configuration before any flag: the built-in
// defaults, overridden by CARTO_SETUP_DIR, CARTO_SETUP_STATE_DIR and
// CARTO_SETUP_LISTEN.
func Defaults(getenv func(string) string) Config {
	c := Config{
		Dir: getenv("CARTO_SETUP_DIR"), StateDir: getenv("CARTO_SETUP_STATE_DIR"), Listen: getenv("CARTO_SETUP_LISTEN"),
		HTTPAddr: ":80", ACMEDirectory: LetsEncrypt, Project: "carto-selfhosted", Expect: 5 * time.Minute,
		LogHistoryMiB: 64,
	}
	if c.Listen == "" {
		c.Listen = ":8443"
	}
	return c
}

// Register adds the shared flags to fs, with c's values as defaults.
func (c *Config) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.Dir, "dir", c.Dir, "the carto-selfhosted checkout (default: the current directory)")
	fs.StringVar(&c.StateDir, "state-dir", c.StateDir, "carto-setup's state directory (default: DIR/.carto-setup)")
	fs.StringVar(&c.Listen, "listen", c.Listen, "address the wizard listens on")
	fs.BoolVar(&c.Demo, "demo", c.Demo, "prepare a stand-in CARTO release and walk the flow without a CARTO licence")
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "where to answer plain HTTP for domain and ACME checks")
	fs.StringVar(&c.ACMEDirectory, "acme-directory", c.ACMEDirectory, "default ACME directory for the TLS step")
	fs.StringVar(&c.ACMECAFile, "acme-ca-file", c.ACMECAFile, "PEM CA to trust for a private ACME directory")
	fs.StringVar(&c.Project, "project", c.Project, "Docker Compose project name of the install")
	fs.StringVar(&c.StandinBinary, "standin-binary", c.StandinBinary, "the release is the stand-in: static carto-setup executable for its images (with --demo, default: this one)")
	fs.DurationVar(&c.Expect, "expect-timeout", c.Expect, "how long the install waits for every service to reach its state")
	fs.DurationVar(&c.PullStall, "pull-stall-timeout", c.PullStall, "how long an image pull may move no byte before it stops (default 2m)")
	fs.StringVar(&c.Resolver, "resolver", c.Resolver, "DNS server (host:port) for the domain checks (default: the system resolver)")
	fs.IntVar(&c.LogHistoryMiB, "log-history-mib", c.LogHistoryMiB, "MiB of log history the wizard keeps on disk per service; the oldest lines go first")
}

// Complete fills in the derived paths: Dir defaults to the working
// directory, StateDir to Dir/.carto-setup, both made absolute.
func (c *Config) Complete() error {
	if c.Dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return fmt.Errorf("config: working directory: %w", err)
		}
		c.Dir = wd
	}
	abs, err := filepath.Abs(c.Dir)
	if err != nil {
		return fmt.Errorf("config: --dir: %w", err)
	}
	c.Dir = abs
	if c.StateDir == "" {
		c.StateDir = filepath.Join(c.Dir, ".carto-setup")
	}
	if c.StateDir, err = filepath.Abs(c.StateDir); err != nil {
		return fmt.Errorf("config: --state-dir: %w", err)
	}
	return nil
}

// Validate enforces what no single flag can.
func (c Config) Validate() error {
	if c.Expect <= 0 {
		return fmt.Errorf("config: --expect-timeout must be positive, not %s", c.Expect)
	}
	if c.Listen == "" {
		return errors.New("config: --listen is empty")
	}
	if c.LogHistoryMiB < 1 {
		return fmt.Errorf("config: --log-history-mib must be at least 1, not %d", c.LogHistoryMiB)
	}
	if c.HTTPAddr == "" {
		return errors.New("config: --http-addr is empty")
	}
	return nil
}

// Parse parses args into a configuration that starts from Defaults(getenv):
// the shared flags and, through extra, a command's own. It returns the
// arguments left after the flags. Usage and flag errors go to stderr;
// -h returns ErrHelp.
func Parse(name string, args []string, getenv func(string) string, stderr io.Writer, extra func(*flag.FlagSet)) (Config, []string, error) {
	c := Defaults(getenv)
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.Register(fs)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return c, nil, err
	}
	if err := c.Complete(); err != nil {
		return c, nil, err
	}
	return c, fs.Args(), c.Validate()
}

// Load is Parse for the wizard itself, which has no flags of its own and
// takes no arguments.
func Load(args []string, getenv func(string) string) (Config, error) {
	c, rest, err := Parse("carto-setup", args, getenv, io.Discard, nil)
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("config: unexpected argument %q", rest[0])
	}
	return c, err
}

// EnsureStateDir creates the state directory with mode 0700, tightening an
// existing one: it holds the TLS key, the token and the admin's secrets.
func (c Config) EnsureStateDir() error {
	if err := os.MkdirAll(c.StateDir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	if err := os.Chmod(c.StateDir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	return nil
}

// StatePath is the wizard's state file.
func (c Config) StatePath() string { return filepath.Join(c.StateDir, "state.json") }

// LogsPath is where the wizard keeps the project's log history, which
// the logs command reads.
func (c Config) LogsPath() string { return filepath.Join(c.StateDir, "logs") }
