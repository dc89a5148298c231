package app

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
	// stand-in images from (--demo); empty means this executable.
	StandinBinary string
	// Expect bounds the wait for every service to reach its state.
	Expect time.Duration
}

// errHelp is returned when -h was asked for; usage has been printed.
var errHelp = errors.New("help requested")

// loadConfig parses flags, with CARTO_SETUP_* environment variables as
// defaults, and fills in derived paths.
func loadConfig(name string, args []string, getenv func(string) string, stderr io.Writer, extra func(*flag.FlagSet)) (Config, *flag.FlagSet, error) {
	cfg := Config{Dir: getenv("CARTO_SETUP_DIR"), StateDir: getenv("CARTO_SETUP_STATE_DIR"), Listen: getenv("CARTO_SETUP_LISTEN")}
	if cfg.Listen == "" {
		cfg.Listen = ":8443"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Dir, "dir", cfg.Dir, "the carto-selfhosted checkout (default: the current directory)")
	fs.StringVar(&cfg.StateDir, "state-dir", cfg.StateDir, "carto-setup's state directory (default: DIR/.carto-setup)")
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "address the wizard listens on")
	fs.BoolVar(&cfg.Demo, "demo", false, "prepare a stand-in CARTO release and walk the flow without a CARTO licence")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", ":80", "where to answer plain HTTP for domain and ACME checks")
	fs.StringVar(&cfg.ACMEDirectory, "acme-directory", "https://acme-v02.api.letsencrypt.org/directory", "default ACME directory for the TLS step")
	fs.StringVar(&cfg.ACMECAFile, "acme-ca-file", "", "PEM CA to trust for a private ACME directory")
	fs.StringVar(&cfg.Project, "project", "carto-selfhosted", "Docker Compose project name of the install")
	fs.StringVar(&cfg.StandinBinary, "standin-binary", "", "with --demo: static carto-setup executable for the stand-in images (default: this one)")
	fs.DurationVar(&cfg.Expect, "expect-timeout", 5*time.Minute, "how long the install waits for every service to reach its state")
	fs.StringVar(&cfg.Resolver, "resolver", "", "DNS server (host:port) for the domain checks (default: the system resolver)")
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, fs, errHelp
		}
		return cfg, fs, err
	}
	if cfg.Dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return cfg, fs, fmt.Errorf("config: working directory: %w", err)
		}
		cfg.Dir = wd
	}
	abs, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return cfg, fs, fmt.Errorf("config: --dir: %w", err)
	}
	cfg.Dir = abs
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(cfg.Dir, ".carto-setup")
	}
	if cfg.StateDir, err = filepath.Abs(cfg.StateDir); err != nil {
		return cfg, fs, fmt.Errorf("config: --state-dir: %w", err)
	}
	return cfg, fs, nil
}

// ensureStateDir creates the state directory with mode 0700, tightening an
// existing one: it holds the TLS key, the token and the admin's secrets.
func ensureStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	return nil
}
