package compose

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ProcDir is where Linux shows its processes; tests pass it explicitly too.
const ProcDir = "/proc"

// Process is a running Compose process for a project: one left behind by a
// carto-setup that was killed mid-install keeps changing the stack, so a new
// install must find it and wait for it or stop it first.
type Process struct {
	PID  int
	PPID int
	// Started is the process's start time in clock ticks after boot (field
	// 22 of /proc/PID/stat): with the PID it names the process, so a PID
	// reused after it exits is never signalled.
	Started uint64
	Args    []string
	// Project is the project name and ProjectFrom where it came from: the
	// --project-name/-p flag, COMPOSE_PROJECT_NAME, or the working
	// directory's name (Compose's default).
	Project, ProjectFrom string
}

func (p Process) String() string {
	return fmt.Sprintf("pid %d (%s)", p.PID, strings.Join(p.Args, " "))
}

// FindProcesses lists the Compose processes of project running on this
// host, read from procDir (ProcDir): the standalone docker-compose (also
// when run by a Python interpreter, as Debian's 1.29 is), `docker compose`
// and the compose CLI plugin. Processes that cannot be read (gone meanwhile,
// or another user's) are skipped; this process is never listed.
func FindProcesses(procDir, project string) ([]Process, error) {
	entries, err := os.ReadDir(procDir)
	if err != nil {
		return nil, fmt.Errorf("compose: list processes: %w", err)
	}
	var found []Process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		p, ok := readProcess(procDir, pid)
		if ok && p.Project == project {
			found = append(found, p)
		}
	}
	slices.SortFunc(found, func(a, b Process) int { return a.PID - b.PID })
	return found, nil
}

// readProcess reads a Compose process; ok is false for any other process.
func readProcess(procDir string, pid int) (Process, bool) {
	dir := filepath.Join(procDir, strconv.Itoa(pid))
	raw, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil || len(raw) == 0 {
		return Process{}, false
	}
	args := strings.Split(strings.TrimSuffix(string(raw), "\x00"), "\x00")
	rest, ok := composeArgs(args)
	if !ok {
		return Process{}, false
	}
	p := Process{PID: pid, Args: args}
	stat, ok := readStat(procDir, pid)
	if !ok || stat.state == 'Z' {
		return Process{}, false
	}
	p.PPID, p.Started = stat.ppid, stat.started
	if name, ok := projectFlag(rest); ok {
		p.Project, p.ProjectFrom = name, "flag"
	} else if env, err := os.ReadFile(filepath.Join(dir, "environ")); err == nil && envValue(env, "COMPOSE_PROJECT_NAME") != "" {
		p.Project, p.ProjectFrom = envValue(env, "COMPOSE_PROJECT_NAME"), "environment"
	} else if cwd, err := os.Readlink(filepath.Join(dir, "cwd")); err == nil {
		p.Project, p.ProjectFrom = defaultProjectName(filepath.Base(cwd)), "directory"
	}
	return p, true
}

// composeArgs recognises a Compose command line and returns the arguments
// after the program (and after "compose" for the plugin forms).
func composeArgs(args []string) ([]string, bool) {
	base := func(i int) string {
		if i >= len(args) {
			return ""
		}
		return filepath.Base(args[i])
	}
	switch {
	case base(0) == "docker-compose" && len(args) > 1 && args[1] == "compose":
		return args[2:], true // the CLI plugin, as the docker CLI runs it
	case base(0) == "docker-compose":
		return args[1:], true
	case strings.HasPrefix(base(0), "python") && base(1) == "docker-compose":
		return args[2:], true // Debian's docker-compose 1.29 is a Python script
	case base(0) == "docker" && len(args) > 1 && args[1] == "compose":
		return args[2:], true
	}
	return nil, false
}

// valueFlags are Compose's global flags that take a separate value; any
// other word not starting with - is the subcommand, after which -p means
// something else (docker-compose run -p publishes a port).
var valueFlags = map[string]bool{
	"-f": true, "--file": true, "--project-directory": true, "--env-file": true, "--ansi": true,
	"--profile": true, "-c": true, "--context": true, "-H": true, "--host": true, "--log-level": true,
	"--parallel": true, "--progress": true, "--tlscacert": true, "--tlscert": true, "--tlskey": true,
}

// projectFlag finds the project name among the global flags.
func projectFlag(args []string) (string, bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-p" || a == "--project-name":
			if i+1 < len(args) {
				return args[i+1], true
			}
			return "", false
		case strings.HasPrefix(a, "--project-name="):
			return strings.TrimPrefix(a, "--project-name="), true
		case strings.HasPrefix(a, "-p") && !strings.HasPrefix(a, "--"):
			return a[2:], true
		case valueFlags[a]:
			i++
		case !strings.HasPrefix(a, "-"):
			return "", false // the subcommand
		}
	}
	return "", false
}

func envValue(environ []byte, key string) string {
	for _, kv := range bytes.Split(environ, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte(key+"=")); ok {
			return string(v)
		}
	}
	return ""
}

var nonProjectChars = regexp.MustCompile(`[^a-z0-9_-]`)

// defaultProjectName is the name Compose derives from a directory.
func defaultProjectName(dir string) string {
	return nonProjectChars.ReplaceAllString(strings.ToLower(dir), "")
}

type procStat struct {
	state   byte
	ppid    int
	started uint64
}

// readStat reads the state, parent and start time from /proc/PID/stat.
// The command name in parentheses may hold spaces and parentheses, so the
// fields are counted from the last ")".
func readStat(procDir string, pid int) (procStat, bool) {
	b, err := os.ReadFile(filepath.Join(procDir, strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return procStat{}, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	started, err2 := strconv.ParseUint(f[19], 10, 64)
	if err1 != nil || err2 != nil || len(f[0]) != 1 {
		return procStat{}, false
	}
	return procStat{state: f[0][0], ppid: ppid, started: started}, true
}

// gone reports whether p has exited: its PID is free, names another
// process, or is a zombie waiting for its parent.
func gone(procDir string, p Process) bool {
	st, ok := readStat(procDir, p.PID)
	return !ok || st.started != p.Started || st.state == 'Z'
}

// sendSignal sends sig to p unless p has exited.
func sendSignal(procDir string, p Process, sig syscall.Signal) error {
	if gone(procDir, p) {
		return nil
	}
	if err := syscall.Kill(p.PID, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("compose: signal %s: %w", p, err)
	}
	return nil
}

// WaitGone waits until p has exited, checking every poll (0 means 100 ms),
// or until ctx is done. It is how a new install waits for a Compose
// process it chose to let finish.
func WaitGone(ctx context.Context, procDir string, p Process, poll time.Duration) error {
	if poll <= 0 {
		poll = 100 * time.Millisecond
	}
	for !gone(procDir, p) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("compose: wait for %s: %w", p, ctx.Err())
		case <-time.After(poll):
		}
	}
	return nil
}

// StopProcess stops p: SIGTERM, up to grace for it to exit, then SIGKILL,
// and waits until it is gone or ctx is done. Compose stops its own work on
// SIGTERM; the containers it already started keep running, and the next
// `up` takes them over.
func StopProcess(ctx context.Context, procDir string, p Process, grace time.Duration) error {
	if err := sendSignal(procDir, p, syscall.SIGTERM); err != nil {
		return err
	}
	termCtx, cancel := context.WithTimeout(ctx, grace)
	err := WaitGone(termCtx, procDir, p, 20*time.Millisecond)
	cancel()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("compose: stop %s: %w", p, ctx.Err())
	}
	if err := sendSignal(procDir, p, syscall.SIGKILL); err != nil {
		return err
	}
	return WaitGone(ctx, procDir, p, 20*time.Millisecond)
}
