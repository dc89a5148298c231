package logstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// socketProxy stands between the follower and the Docker daemon's socket,
// so that a test can make the socket vanish and come back without
// restarting the daemon, which other tests on the machine use.
type socketProxy struct {
	path, target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// up listens on the proxy's socket and forwards every connection to the
// daemon's.
func (p *socketProxy) up() error {
	ln, err := net.Listen("unix", p.path)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.ln = ln
	if p.conns == nil {
		p.conns = map[net.Conn]struct{}{}
	}
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d, err := net.Dial("unix", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[d] = struct{}{}, struct{}{}
			p.mu.Unlock()
			pipe := func(dst, src net.Conn) {
				io.Copy(dst, src)
				dst.Close()
				src.Close()
			}
			p.wg.Go(func() { pipe(c, d) })
			p.wg.Go(func() { pipe(d, c) })
		}
	})
	return nil
}

// down removes the socket and cuts every connection through it, as a
// daemon that stops does.
func (p *socketProxy) down() {
	p.mu.Lock()
	p.ln.Close() // removes the socket file
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
	p.mu.Unlock()
	p.wg.Wait()
	if _, err := os.Stat(p.path); !errors.Is(err, os.ErrNotExist) {
		os.Remove(p.path)
	}
}

// TestLiveDaemonOutage follows two services through the daemon's socket
// vanishing for a few seconds and coming back. While it is gone, one
// container writes on and is restarted. Afterwards every line the daemon
// has must have arrived exactly once, the restart must be marked, and the
// follower must have resumed from its cursors (one stream per container at
// a time). Before the outage a service is recreated, which checks the
// generations the real daemon reports.
func TestLiveDaemonOutage(t *testing.T) {
	bin := testenv.LookPath(t, "docker", "apt-get install docker.io")
	target := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		p, ok := strings.CutPrefix(h, "unix://")
		if !ok {
			testenv.Missing(t, "Docker Engine on a unix socket", "this test cuts a unix socket; DOCKER_HOST is "+h)
		}
		target = p
	}
	// The CLI (test setup only) talks to the daemon directly.
	docker := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+target)
		out, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				err = fmt.Errorf("%w: %s", err, ee.Stderr)
			}
			t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out))
	}
	// A short directory: unix socket paths are limited to 108 bytes.
	sockDir, err := os.MkdirTemp("", "lsproxy")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	proxy := &socketProxy{path: filepath.Join(sockDir, "docker.sock"), target: target}
	if err := proxy.up(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.down() })
	t.Setenv("DOCKER_HOST", "unix://"+proxy.path)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cli, err := engine.New(ctx)
	if err != nil {
		testenv.Missing(t, "Docker Engine", "install docker.io and start dockerd: "+err.Error())
	}
	defer cli.Close()

	image := buildLoggen(t, docker)
	project := fmt.Sprintf("lsout%d", time.Now().UnixNano()%1e9)
	t.Cleanup(func() {
		ids := docker("ps", "-aq", "--filter", "label="+engine.LabelComposeProject+"="+project)
		if f := strings.Fields(ids); len(f) > 0 {
			docker(append([]string{"rm", "-f"}, f...)...)
		}
	})
	name := func(service string) string { return project + "_" + service + "_1" }
	run := func(service string, args ...string) {
		docker(append([]string{"run", "-d", "--name", name(service),
			"--label", engine.LabelComposeProject + "=" + project, "--label", engine.LabelComposeService + "=" + service,
			"--label", engine.LabelComposeNumber + "=1", image}, args...)...)
	}

	run("steady", "-every", "4ms", "-stderr-every", "5")
	run("gen", "-every", "10ms")

	cd := &countingDocker{Docker: cli, open: map[string]int{}, maxOpen: map[string]int{}, opened: map[string]int{}}
	pd := countingProjectDocker{countingDocker: cd, cli: cli}
	hub := NewHub(HubConfig{MaxLines: 1 << 20, MaxBytes: 1 << 30})
	pf := NewProjectFollower(ProjectConfig{Project: project, Docker: pd, Hub: hub,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- pf.Run(runCtx) }()
	var runErr error
	stopFollower := sync.OnceFunc(func() { stopRun(); runErr = <-runDone })
	defer stopFollower()

	count := func(container string, match func(Line) bool) int {
		n := 0
		for _, l := range hub.Poll(nil, 1<<30).Lines {
			if l.Container == container && match(l) {
				n++
			}
		}
		return n
	}
	text := func(s string) func(Line) bool { return func(l Line) bool { return strings.Contains(l.Text, s) } }
	marker := func(kind string) func(Line) bool {
		return func(l Line) bool { return l.Stream == Marker && l.Marker == kind }
	}
	wait := func(what string, cond func() bool) { t.Helper(); testenv.WaitFor(t, what, time.Minute, cond) }

	wait("steady's first lines", func() bool { return count(name("steady"), text("seq=")) >= 100 })
	wait("gen's first lines", func() bool { return count(name("gen"), text("seq=")) >= 20 })

	// Recreate gen, as docker compose up --force-recreate does.
	docker("rm", "-f", name("gen"))
	run("gen", "-every", "10ms")
	wait("the recreation marker", func() bool { return count(name("gen"), marker(MarkRecreated)) >= 1 })

	before := pf.Opened()
	proxy.down()
	wait("the follower to notice", func() bool { return pf.Streams() == 0 })
	time.Sleep(time.Second) // steady writes on, unread
	docker("restart", "-t", "2", name("steady"))
	time.Sleep(time.Second)
	if err := proxy.up(); err != nil {
		t.Fatal(err)
	}
	wait("the restart marker", func() bool { return count(name("steady"), marker(MarkRestarted)) >= 1 })
	wait("steady's second run", func() bool {
		return count(name("steady"), text("stopping")) >= 1 && count(name("steady"), text("seq=")) > 1500
	})
	if pf.Opened() <= before {
		t.Errorf("no stream opened after the outage (%d before, %d after)", before, pf.Opened())
	}

	docker("stop", "-t", "5", name("steady"), name("gen"))
	wait("every stream to end", func() bool {
		return count(name("steady"), text("stopping")) >= 2 && count(name("gen"), text("stopping")) >= 1 && pf.Streams() == 0
	})
	time.Sleep(200 * time.Millisecond) // room for a stray duplicate
	stopFollower()
	if runErr != nil {
		t.Errorf("Run: %v", runErr)
	}

	if n, m := count(name("gen"), marker(MarkRecreated)), count(name("steady"), marker(MarkRestarted)); n != 1 || m != 1 {
		t.Errorf("%d recreation markers for gen and %d restart markers for steady, want 1 each", n, m)
	}
	byContainer := map[string][]Line{}
	for _, l := range hub.Poll(nil, 1<<30).Lines {
		if l.Stream != Marker {
			byContainer[l.Container] = append(byContainer[l.Container], l)
		}
	}
	t.Run("steady: every line of both runs once", func(t *testing.T) { checkRunsOnce(t, byContainer[name("steady")], 2, 5) })
	// gen's first container is gone with its log; its second run is whole.
	t.Run("gen: the new generation whole", func(t *testing.T) {
		var second []Line
		runs := map[string]bool{}
		for _, l := range byContainer[name("gen")] {
			var seq int
			var run string
			if _, err := fmt.Sscanf(l.Text, "seq=%d run=%s", &seq, &run); err == nil && seq == 0 {
				runs[run] = true
			}
			if len(runs) == 2 {
				second = append(second, l)
			}
		}
		checkRunsOnce(t, second, 1, 0)
	})
	t.Run("one daemon stream per container at a time", func(t *testing.T) {
		cd.mu.Lock()
		defer cd.mu.Unlock()
		for id, n := range cd.maxOpen {
			if n != 1 {
				t.Errorf("container %.12s had %d streams open at once", id, n)
			}
		}
	})
}

// checkRunsOnce checks that lines hold wantRuns runs of loggen, each from
// seq 0 to its "stopping" line without hole or repeat, with every
// stderrEvery-th line on stderr.
func checkRunsOnce(t *testing.T, lines []Line, wantRuns, stderrEvery int) {
	t.Helper()
	seen := map[string]map[int]int{}
	stopped := map[string]int{}
	var order []string
	for _, l := range lines {
		var seq int
		var run string
		if _, err := fmt.Sscanf(l.Text, "stopping run=%s", &run); err == nil {
			stopped[run]++
			continue
		}
		if _, err := fmt.Sscanf(l.Text, "seq=%d run=%s", &seq, &run); err != nil {
			t.Errorf("unexpected line %q", l.Text)
			continue
		}
		if seen[run] == nil {
			seen[run] = map[int]int{}
			order = append(order, run)
		}
		seen[run][seq]++
		if want := map[bool]Stream{true: Stderr, false: Stdout}[stderrEvery > 0 && seq%stderrEvery == 0]; l.Stream != want {
			t.Errorf("run %s seq %d on %s, want %s", run, seq, l.Stream, want)
		}
	}
	if len(order) != wantRuns {
		t.Errorf("%d runs, want %d", len(order), wantRuns)
	}
	for _, r := range order {
		last := 0
		for seq := range seen[r] {
			last = max(last, seq)
		}
		for i := range last + 1 {
			if n := seen[r][i]; n != 1 {
				t.Errorf("run %s: seq %d arrived %d times", r, i, n)
			}
		}
		if stopped[r] != 1 {
			t.Errorf("run %s: its stopping line arrived %d times", r, stopped[r])
		}
	}
}

// countingProjectDocker adds the generations of the real engine to a
// countingDocker.
type countingProjectDocker struct {
	*countingDocker
	cli *engine.Client
}

func (c countingProjectDocker) ContainerGeneration(ctx context.Context, id string) (engine.ContainerGeneration, error) {
	return c.cli.ContainerGeneration(ctx, id)
}
