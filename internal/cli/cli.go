package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/config"
	"github.com/carto-setup/carto-setup/internal/steps"
)

// Env is what every command gets from the app.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Now            func() time.Time
	Version        string
	// Wire builds what the steps and the install need for cfg, with the
	// one port-80 / nonce / ACME / domain set the wizard uses too.
	Wire func(ctx context.Context, cfg config.Config, log *slog.Logger, o WireOptions) (*Wiring, error)
}

// WireOptions change what Wire builds.
type WireOptions struct {
	// ChallengesOnly makes port 80 answer ACME challenges and nothing
	// else, for renew while the router is stopped.
	ChallengesOnly bool
	// Output is where --demo says what it prepared; nil means stderr.
	Output io.Writer
}

// Wiring is what Wire built.
type Wiring struct {
	// Config is the configuration after --demo prepared its release.
	Config config.Config
	// Steps are the steps' dependencies.
	Steps steps.Deps
	// Images is the install's pull phase.
	Images *steps.ImagesConfig
	// ProbeBinary is the static executable of the smoke test's probe;
	// Address is this VM's address.
	ProbeBinary string
	Address     string
	// Resolver resolves names as the domain checks do.
	Resolver *net.Resolver
	// ClosePort80 releases port 80 at once; Close releases everything.
	ClosePort80 func()
	Close       func()
	// StopDemo stops the demo's PostgreSQL and, with purge, removes the
	// demo (its images, database and state directory); nil without
	// --demo.
	StopDemo func(ctx context.Context, purge bool) error
}

// ExitError carries a process exit status; the command has already said
// why on stderr.
type ExitError int

func (e ExitError) Error() string { return "exit status " + strconv.Itoa(int(e)) }

// ExitCode returns the status the process should exit with.
func (e ExitError) ExitCode() int { return int(e) }

// Exit statuses of the headless commands (product.md, "Headless mode").
const (
	ExitFailed  = ExitError(1) // a check failed, or the install did
	ExitInvalid = ExitError(2) // the answers file (or the command line) is wrong
)

// ErrHelp is returned when a command's help was asked for and printed.
var ErrHelp = flag.ErrHelp

// parse parses a command's flags: the shared ones and its own, which may
// come before or after its arguments. A flag error is exit status 2.
func parse(name, usage string, args []string, getenv func(string) string, stderr io.Writer, extra func(*flag.FlagSet)) (config.Config, []string, error) {
	withUsage := func(fs *flag.FlagSet) {
		fs.Usage = func() {
			fmt.Fprintf(fs.Output(), "Usage:\n%s\nFlags:\n", usage)
			fs.PrintDefaults()
		}
		if extra != nil {
			extra(fs)
		}
	}
	probe := flag.NewFlagSet(name, flag.ContinueOnError)
	c := config.Defaults(getenv)
	c.Register(probe)
	withUsage(probe)
	flags, positional := splitArgs(probe, args)
	cfg, rest, err := config.Parse(name, flags, getenv, stderr, withUsage)
	if errors.Is(err, flag.ErrHelp) {
		return cfg, nil, ErrHelp
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return cfg, nil, ExitInvalid
	}
	return cfg, append(rest, positional...), nil
}

// splitArgs separates flags (with their values) from positional arguments,
// so that `check tls --answers f` and `check --answers f tls` both work.
func splitArgs(fs *flag.FlagSet, args []string) (flags, positional []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return flags, append(positional, args[i+1:]...)
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // the parser names it
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return flags, positional
}

// noArgs refuses arguments a command does not take.
func noArgs(name string, rest []string, stderr io.Writer) error {
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", name, rest[0])
		return ExitInvalid
	}
	return nil
}
