package compose

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// Flavor says how Compose is invoked.
type Flavor string

// The two ways Compose can be installed. A standalone binary may be v1 (the
// Python docker-compose) or v2 (the Go rewrite installed as docker-compose).
const (
	Standalone Flavor = "standalone" // docker-compose ...
	Plugin     Flavor = "plugin"     // docker compose ...
)

// FileName is the compose file of a CARTO release.
const FileName = "docker-compose.yml"

// The oldest standalone docker-compose that install.sh and CARTO accept.
const (
	MinMajor = 1
	MinMinor = 29
)

// ErrNotFound means neither docker-compose nor the docker compose plugin is
// installed.
var ErrNotFound = errors.New("compose: neither docker-compose nor the docker compose plugin was found")

// ErrTooOld means the only Compose found is older than 1.29.
var ErrTooOld = errors.New("compose: docker-compose is older than 1.29")

// Version is a Compose version as printed by Compose itself.
type Version struct {
	Major, Minor, Patch int
	Raw                 string // as printed, without a leading "v", e.g. "2.29.1-desktop.1"
}

// AtLeast reports whether v is major.minor or newer.
func (v Version) AtLeast(major, minor int) bool {
	if v.Major != major {
		return v.Major > major
	}
	return v.Minor >= minor
}

// String returns the version as Compose printed it.
func (v Version) String() string { return v.Raw }

// versionRE matches the version in "docker-compose version 1.29.2, build
// 5becea4c", "Docker Compose version v2.27.0", "docker-compose version
// v2.5.0" and a bare "2.29.1-desktop.1" (the --short form).
var versionRE = regexp.MustCompile(`(?i)(?:^|version\s+)v?(\d+)\.(\d+)(?:\.(\d+))?((?:[-+][0-9A-Za-z.+-]*)?)`)

// ParseVersion extracts the version from the output of `docker-compose
// --version`, `docker compose version` or their --short forms.
func ParseVersion(out string) (Version, error) {
	for line := range strings.SplitSeq(out, "\n") {
		m := versionRE.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		v := Version{}
		v.Major, _ = strconv.Atoi(m[1])
		v.Minor, _ = strconv.Atoi(m[2])
		raw := m[1] + "." + m[2]
		if m[3] != "" {
			v.Patch, _ = strconv.Atoi(m[3])
			raw += "." + m[3]
		}
		v.Raw = raw + m[4]
		return v, nil
	}
	return Version{}, fmt.Errorf("compose: parse version: no version in %q", firstLine(out))
}

// Tool is an installed Compose: how to call it and which version it is.
type Tool struct {
	Flavor  Flavor
	Path    string // the docker-compose executable, or docker for the plugin
	Version Version
}

// Supported reports whether the tool is new enough: any plugin (always v2),
// or a standalone docker-compose 1.29 or newer.
func (t Tool) Supported() bool {
	return t.Flavor == Plugin || t.Version.AtLeast(MinMajor, MinMinor)
}

// String names the tool as a user would type it, with its version.
func (t Tool) String() string {
	if t.Flavor == Plugin {
		return "docker compose " + t.Version.Raw + " (plugin)"
	}
	return "docker-compose " + t.Version.Raw + " (standalone)"
}

// LookPathFunc finds an executable, as exec.LookPath does.
type LookPathFunc func(file string) (string, error)

// RunFunc runs a command and returns its combined output.
type RunFunc func(ctx context.Context, name string, args ...string) ([]byte, error)

// Exec is the RunFunc that runs a real process.
func Exec(ctx context.Context, name string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

// Detect finds Compose. It prefers a standalone docker-compose 1.29 or
// newer, because that is what CARTO documents and install.sh checks, and
// falls back to the docker compose plugin. When the only Compose found is an
// older standalone, Detect returns it together with an error wrapping
// ErrTooOld, so that the caller can say which version it saw.
func Detect(ctx context.Context, lookPath LookPathFunc, run RunFunc) (Tool, error) {
	var standalone Tool
	var standaloneErr error
	if p, err := lookPath("docker-compose"); err == nil {
		out, err := run(ctx, p, "--version")
		if err != nil {
			standaloneErr = fmt.Errorf("compose: %s --version: %w", p, err)
		} else if v, err := ParseVersion(string(out)); err != nil {
			standaloneErr = err
		} else {
			standalone = Tool{Flavor: Standalone, Path: p, Version: v}
			if standalone.Supported() {
				return standalone, nil
			}
		}
	}
	if p, err := lookPath("docker"); err == nil {
		// Without the plugin, docker prints "docker: 'compose' is not a
		// docker command" (or "unknown command") and exits non-zero.
		if out, err := run(ctx, p, "compose", "version"); err == nil {
			if v, err := ParseVersion(string(out)); err == nil {
				return Tool{Flavor: Plugin, Path: p, Version: v}, nil
			}
		}
	}
	switch {
	case standalone.Path != "":
		return standalone, fmt.Errorf("%w: found %s at %s", ErrTooOld, standalone.Version.Raw, standalone.Path)
	case standaloneErr != nil:
		return Tool{}, standaloneErr
	}
	return Tool{}, ErrNotFound
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
