package installsh

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
	"github.com/carto-setup/carto-setup/internal/check"
)

// Permissions of what Apply writes: .env and certs/key.json hold secrets.
const (
	SecretPerm = 0o600
	CertsPerm  = 0o700
)

// Options controls Apply.
type Options struct {
	// IgnoreChecks skips steps A and C, like install.sh --ignore-checks.
	IgnoreChecks bool
	// Tools measures docker and compose for step A; it may be nil when
	// IgnoreChecks is set.
	Tools ToolVersions
}

// ErrChecksFailed is returned by Apply when a step A or step C check failed.
var ErrChecksFailed = errors.New("install: checks failed")

// Apply does in dir what `bash install.sh` does there, with every check
// first: without IgnoreChecks it runs step A, then computes step B's
// result and runs step C on it, and writes nothing at all when any check
// fails (install.sh checks step C after it has rewritten .env, so that a
// package below MIN_VERSION leaves a new .env behind for the next
// `docker-compose up -d`). Step B renames a legacy POSTGRES_PASSWORD in
// customer.env (rewriting the file atomically, with its mode kept, only
// when that changes it), writes .env (mode 0600) and copies key.json to
// certs/key.json (mode 0600; certs/ is created with mode 0700). It returns
// every check result; the error is ErrChecksFailed when a check failed
// and something else when a file could not be read or written.
func Apply(ctx context.Context, dir string, opts Options) ([]check.Result, error) {
	var results []check.Result
	if !opts.IgnoreChecks {
		if opts.Tools == nil {
			return nil, errors.New("install: apply: no way to measure the docker and compose versions")
		}
		results = PreChecks(ctx, dir, opts.Tools)
		if !passed(results) {
			return results, ErrChecksFailed
		}
	}

	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("install: read %s: %w", name, err)
		}
		return b, nil
	}
	customerEnv, err := read("customer.env")
	if err != nil {
		return results, err
	}
	version, err := read("VERSION")
	if err != nil {
		return results, err
	}
	envTpl, err := read("env.tpl")
	if err != nil {
		return results, err
	}
	key, err := read("key.json")
	if err != nil {
		return results, err
	}
	renamed := RenamePostgresPassword(customerEnv)
	dotEnv := DotEnv(renamed, version, envTpl)
	if !opts.IgnoreChecks {
		minVersion, err := read("MIN_VERSION")
		if err != nil {
			return results, err
		}
		results = append(results, PostChecks(dotEnv, minVersion)...)
		if !passed(results) {
			return results, ErrChecksFailed
		}
	}

	if !bytes.Equal(renamed, customerEnv) {
		path := filepath.Join(dir, "customer.env")
		st, err := os.Stat(path)
		if err != nil {
			return results, fmt.Errorf("install: stat customer.env: %w", err)
		}
		if err := atomicfile.WriteFile(path, renamed, st.Mode().Perm()); err != nil {
			return results, fmt.Errorf("install: rename POSTGRES_PASSWORD in customer.env: %w", err)
		}
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ".env"), dotEnv, SecretPerm); err != nil {
		return results, fmt.Errorf("install: write .env: %w", err)
	}
	certs := filepath.Join(dir, "certs")
	if err := os.MkdirAll(certs, CertsPerm); err != nil {
		return results, fmt.Errorf("install: create certs: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(certs, "key.json"), key, SecretPerm); err != nil {
		return results, fmt.Errorf("install: copy key.json: %w", err)
	}
	return results, nil
}

// passed reports whether no result failed or could not run.
func passed(results []check.Result) bool {
	w := check.Worst(results)
	return w != check.Fail && w != check.Error
}

// RunEnvCommand implements `carto-setup env --dir DIR [--ignore-checks]`:
// it regenerates .env in DIR as `bash install.sh` does and prints
// install.sh-style [INFO]/[WARN]/[ERROR] lines. It returns the exit status:
// 0 on success, 1 when a check failed or a file could not be handled, 2 on
// a usage error.
func RunEnvCommand(ctx context.Context, args []string, stdout, stderr io.Writer, tools ToolVersions) int {
	fset := flag.NewFlagSet("env", flag.ContinueOnError)
	fset.SetOutput(stderr)
	dir := fset.String("dir", ".", "the carto-selfhosted release directory")
	ignore := fset.Bool("ignore-checks", false, "only generate .env and certs/key.json (step B), like install.sh --ignore-checks")
	fset.Usage = func() {
		fmt.Fprintln(stderr, "usage: carto-setup env --dir DIR [--ignore-checks]")
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fset.NArg() > 0 {
		fmt.Fprintf(stderr, "carto-setup env: unexpected argument %q\n", fset.Arg(0))
		fset.Usage()
		return 2
	}

	results, err := Apply(ctx, *dir, Options{IgnoreChecks: *ignore, Tools: tools})
	for _, r := range results {
		switch r.Status {
		case check.Pass:
			fmt.Fprintf(stdout, "[INFO]: %s\n", r.Message)
		case check.Warn:
			fmt.Fprintf(stdout, "[WARN]: %s\n", r.Message)
		default:
			fmt.Fprintf(stdout, "[ERROR]: %s\n", r.Message)
			if r.Hint != "" {
				fmt.Fprintf(stdout, "         %s\n", r.Hint)
			}
		}
	}
	switch {
	case errors.Is(err, ErrChecksFailed):
		fmt.Fprintln(stderr, "carto-setup env: checks failed; fix the [ERROR] lines above (or pass --ignore-checks to only generate .env)")
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "carto-setup env: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "[INFO]: File .env successfully created")
	fmt.Fprintf(stdout, "[INFO]: Script finished, run %s up -d\n", composeCommand(ctx, tools))
	return 0
}

// ComposeNamer is what a ToolVersions also implements when it knows which
// Compose the host has: "docker-compose" (the standalone binary) or
// "docker compose" (the plugin).
type ComposeNamer interface {
	ComposeCommand(ctx context.Context) (string, error)
}

// composeCommand names the Compose command to tell the admin to run: the
// one tools detected when it can say, else the one its version output
// reveals (only the standalone v1 binary prints "docker-compose version"),
// else the plugin.
func composeCommand(ctx context.Context, tools ToolVersions) string {
	if n, ok := tools.(ComposeNamer); ok {
		if name, err := n.ComposeCommand(ctx); err == nil && name != "" {
			return name
		}
	}
	if tools != nil {
		if out, err := tools.Compose(ctx); err == nil && strings.HasPrefix(strings.TrimSpace(out), "docker-compose version") {
			return "docker-compose"
		}
	}
	return "docker compose"
}
