package compose

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Args returns the full argv (the executable first) that runs the Compose
// subcommand sub on the release in dir under the pinned project name. The
// project name is pinned because Compose otherwise derives it from the
// directory name, and container names, the network and the volume all carry
// it. --ansi never keeps colour codes out of the streamed log; both
// docker-compose 1.29 and v2 accept it.
func (t Tool) Args(projectName, dir string, sub ...string) []string {
	dir = filepath.Clean(dir)
	argv := []string{t.Path}
	if t.Flavor == Plugin {
		argv = append(argv, "compose")
	}
	argv = append(argv,
		"--ansi", "never",
		"--project-name", projectName,
		"--file", filepath.Join(dir, FileName),
		"--project-directory", dir,
	)
	return append(argv, sub...)
}

// projectNameRE is what Compose v2 accepts as a project name; v1 silently
// strips other characters, which would make v1 and v2 disagree on names.
var projectNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// ValidProjectName reports whether name is usable as a project name by both
// Compose v1 and v2.
func ValidProjectName(name string) bool { return projectNameRE.MatchString(name) }

// Up runs `up -d --remove-orphans` for the release in dir and streams
// Compose's output to out as it arrives. Compose gets only the environment
// it needs (see composeEnv), so .env alone decides the stack's variables. --remove-orphans is used because
// the project name belongs to this install alone: a service dropped or
// renamed by a newer release (redis became valkey in 2026.4) must not keep
// running. When Compose fails, Up returns an *UpError that classifies the
// failure from the output.
func Up(ctx context.Context, tool Tool, dir, project string, out io.Writer) error {
	return run(ctx, "up", tool, dir, project, out, "up", "-d", "--remove-orphans")
}

// Down runs `down --remove-orphans` for the release in dir. Named volumes
// (the embedded database) are kept. A failure is an *UpError as for Up.
func Down(ctx context.Context, tool Tool, dir, project string, out io.Writer) error {
	return downRetrying(ctx, func() error { return run(ctx, "down", tool, dir, project, out, "down", "--remove-orphans") })
}

// DownVolumes runs `down --volumes --remove-orphans`: as Down, and the
// project's named volumes (the embedded database's data) are removed too.
// Only for a throwaway install such as the demo.
func DownVolumes(ctx context.Context, tool Tool, dir, project string, out io.Writer) error {
	return downRetrying(ctx, func() error {
		return run(ctx, "down", tool, dir, project, out, "down", "--volumes", "--remove-orphans")
	})
}

// downRetrying runs down again when the daemon refused to remove the
// project network because an endpoint was still attached: Docker 20.10
// releases the endpoint of a container it has just removed a moment later,
// so the second attempt finds the network free.
func downRetrying(ctx context.Context, down func() error) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = down(); err == nil || !strings.Contains(err.Error(), "active endpoints") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
	return err
}

// tailSize bounds how much output is kept for classification; the lines
// that explain a failure are at the end.
const tailSize = 64 << 10

func run(ctx context.Context, op string, tool Tool, dir, project string, out io.Writer, sub ...string) error {
	if !ValidProjectName(project) {
		return fmt.Errorf("compose: %s: invalid project name %q", op, project)
	}
	if out == nil {
		out = io.Discard
	}
	tail := &tailBuffer{max: tailSize}
	w := io.MultiWriter(out, tail)
	argv := tool.Args(project, dir, sub...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = composeEnv(os.Environ())
	// One writer for both streams: exec then serialises writes, and the
	// lines stay in the order Compose printed them.
	cmd.Stdout = w
	cmd.Stderr = w
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("compose: %s: %w", op, ctxErr)
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		// The process did not start at all (missing executable, bad dir).
		return fmt.Errorf("compose: %s: %w", op, err)
	}
	e := Classify(tail.String())
	e.Op = op
	e.Err = err
	return e
}

// composeEnv keeps the variables Compose needs to find the daemon, its
// configuration and its plugins, and drops the rest. Compose lets a
// variable from its environment win over the same key in .env, so a stray
// variable in the shell that started carto-setup (SELFHOSTED_DOMAIN, say)
// would silently change the stack.
func composeEnv(environ []string) []string {
	var env []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "COMPOSE_PROJECT_NAME" || k == "COMPOSE_FILE" || k == "COMPOSE_PROFILES":
			// Set by Args or by the compose file, never by accident.
		case strings.HasPrefix(k, "DOCKER_") || strings.HasPrefix(k, "COMPOSE_") || strings.HasPrefix(k, "XDG_"):
			env = append(env, kv)
		case k == "PATH" || k == "HOME" || k == "USER" || k == "TMPDIR" || k == "LANG" || strings.HasPrefix(k, "LC_"):
			env = append(env, kv)
		}
	}
	return env
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	buf bytes.Buffer
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) > t.max {
		p = p[len(p)-t.max:]
	}
	if over := t.buf.Len() + len(p) - t.max; over > 0 {
		t.buf.Next(over)
	}
	t.buf.Write(p)
	return n, nil
}

func (t *tailBuffer) String() string { return t.buf.String() }
