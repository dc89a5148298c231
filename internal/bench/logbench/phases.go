package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/carto-setup/carto-setup/internal/bench/logline"
	"github.com/carto-setup/carto-setup/internal/bench/measure"
	"github.com/carto-setup/carto-setup/internal/engine"
)

// phase is one scenario of logstream.md 5.3 or 5.4.
type phase struct {
	name, what  string
	group       string // the phase a repeated run belongs to ("burst" for "burst#2")
	opts        logline.Options
	rate        float64 // lines/s; 0 is a burst
	lines       uint64  // per run
	stderrEvery uint64
	tty         bool
	restartAt   time.Duration // docker restart this long after the gate
	slow        bool          // attach the throttled, stalled and idle clients
	// rotate keeps the daemon's default log options (which may rotate
	// the json-file); otherwise the container gets one file of up to
	// 2 GiB, so that only the streamers are measured.
	rotate bool
}

// The slow-client phase has 50 clients: the fast F, the throttled T,
// stalledClients that never read, and idleClients on a quiet job.
const (
	stalledClients = 8
	idleClients    = 40
	slowClients    = 2 + stalledClients + idleClients
)

func allPhases(steady, short time.Duration, burst uint64, slow time.Duration, repeat int) []phase {
	n := func(rate float64, d time.Duration) uint64 { return uint64(rate * d.Seconds()) }
	ps := []phase{
		{name: "steady-1k", what: "1k lines/s of 100 B", opts: logline.Options{Size: 100}, rate: 1000, lines: n(1000, steady)},
		{name: "steady-10k", what: "10k lines/s of 100 B (the top of the latency target's range)", opts: logline.Options{Size: 100}, rate: 10000, lines: n(10000, steady)},
		{name: "steady-20k", what: "20k lines/s of 100 B", opts: logline.Options{Size: 100}, rate: 20000, lines: n(20000, steady)},
		{name: "burst", what: fmt.Sprintf("%d lines of 100 B as fast as loggen can write", burst), opts: logline.Options{Size: 100}, lines: burst},
		{name: "burst-rotate", what: "200000 lines of 100 B as fast as possible, with the daemon's default log options (json-file rotation)", opts: logline.Options{Size: 100}, lines: 200_000, rotate: true},
		{name: "long-20KB", what: "20 KB JSON lines, 50/s (split by the daemon at 16 KiB)", opts: logline.Options{Size: 20000, JSON: true}, rate: 50, lines: n(50, short)},
		{name: "long-100KB", what: "100 KB JSON lines, 10/s", opts: logline.Options{Size: 100000, JSON: true}, rate: 10, lines: n(10, short)},
		{name: "ansi-utf8", what: "1k lines/s of 200 B with ANSI colours and 2-4 byte runes", opts: logline.Options{Size: 200, ANSI: true, UTF8: true}, rate: 1000, lines: n(1000, short)},
		{name: "stderr", what: "2k lines/s, every 2nd on stderr", opts: logline.Options{Size: 100}, rate: 2000, lines: n(2000, short), stderrEvery: 2},
		{name: "tty", what: "1k lines/s from a TTY container (raw stream, \\r\\n)", opts: logline.Options{Size: 100, ANSI: true}, rate: 1000, lines: n(1000, short), tty: true},
		{name: "restart", what: "1k lines/s, docker restart mid-stream", opts: logline.Options{Size: 100}, rate: 1000, lines: n(1000, short), restartAt: short / 2},
		{name: "slow-base", what: "20k lines/s, fast client only (baseline for slow)", opts: logline.Options{Size: 100}, rate: 20000, lines: n(20000, slow)},
		{name: "slow", what: fmt.Sprintf("20k lines/s, fast + throttled + %d stalled + %d idle clients", stalledClients, idleClients), opts: logline.Options{Size: 100}, rate: 20000, lines: n(20000, slow), slow: true},
	}
	// The burst runs repeat times in a row; the report takes the median.
	var out []phase
	for _, p := range ps {
		p.group = p.name
		out = append(out, p)
		if p.name == "burst" {
			for i := 2; i <= repeat; i++ {
				q := p
				q.name = fmt.Sprintf("burst#%d", i)
				out = append(out, q)
			}
		}
	}
	return out
}

// bench holds what every phase uses.
type bench struct {
	cli     *engine.Client
	self    string // this executable, re-run as "logbench serve"
	image   string
	dockerd int
	log     io.Writer
	// profiles, if set, is a directory where each phase's server writes
	// its CPU profile (pprof).
	profiles string
	view     string // serverInfo.View
}

func measureDockerd() int { return measure.FindProcess("dockerd") }

// phaseResult is everything measured in one phase.
type phaseResult struct {
	Name     string `json:"name"`
	Group    string `json:"group"` // the phase it repeats, or its own name
	What     string `json:"what"`
	Produced uint64 `json:"produced"` // data lines loggen wrote, all runs
	Runs     int    `json:"runs"`
	Docker   result `json:"docker"`
	Ours     result `json:"ours"`
	// CPU time from the gate to the moment both consumers had every line.
	DaemonCPU time.Duration `json:"dockerd_cpu_ns"`
	ShimCPU   time.Duration `json:"shim_cpu_ns"` // -1: shim replaced (restart)
	OursCPU   time.Duration `json:"ours_cpu_ns"`
	// HarnessCPU is this process: it parses both consumers' lines (and the
	// websocket clients' TLS and JSON), so it competes for the same cores.
	HarnessCPU time.Duration `json:"harness_cpu_ns"`
	// Load1 is the one-minute load average and Others the number of other
	// running containers when the phase started: the machine is shared.
	Load1  string `json:"load1"`
	Others int    `json:"other_containers"`
	// DockerFirst says docker logs -f attached before the websocket.
	DockerFirst bool             `json:"docker_attached_first"`
	CLICPU      time.Duration    `json:"docker_cli_cpu_ns"` // whole life of the docker logs processes
	PeakRSS     map[string]int64 `json:"peak_rss"`
	Opened      int              `json:"daemon_streams_opened"`
	Markers     int64            `json:"ours_markers"` // marker lines (exited, restarted, ...) the fast client got
	Slow        *slowResult      `json:"slow,omitempty"`
	Err         string           `json:"error,omitempty"`
}

// slowResult is what the slow-client phase adds (logstream.md 5.4).
type slowResult struct {
	GoroutinesBase    int               `json:"goroutines_base"` // server, before any client
	WSGoroutinesMax   int               `json:"ws_goroutines_max"`
	GoroutinesAfter   int               `json:"goroutines_after"` // 2 s after every client left
	WSGoroutinesAfter int               `json:"ws_goroutines_after"`
	RSSBeforeIdle     int64             `json:"rss_before_idle"`
	RSSAfterIdle      int64             `json:"rss_after_idle"`
	HeapBeforeIdle    uint64            `json:"heap_before_idle"`
	HeapAfterIdle     uint64            `json:"heap_after_idle"`
	RSSMax            int64             `json:"rss_max"`
	HeapLive          uint64            `json:"heap_live_end"`                  // after GC, every client still connected
	StalledClosedAt   time.Duration     `json:"stalled_closed_after_gate_ns"`   // the last one; -1: not all
	StalledClosed     int               `json:"stalled_closed"`                 // how many the server closed
	ThrottledClosedAt time.Duration     `json:"throttled_closed_after_gate_ns"` // -1: never
	ThrottledErr      string            `json:"throttled_error,omitempty"`
	Throttled         result            `json:"throttled"`
	ThrottledLast     uint64            `json:"throttled_last_seq"`
	ThrottledHoles    uint64            `json:"throttled_holes"`
	ThrottledOverlaps uint64            `json:"throttled_overlaps"`
	HubLast           uint64            `json:"hub_last_seq"`
	Ingest            measure.Latencies `json:"ingest_ns"`
}

func docker(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("docker %s: %w", args[0], err)
	}
	return strings.TrimSpace(string(out)), nil
}

// runPhase runs one phase from container start to clean-up.
func (b *bench) runPhase(ctx context.Context, p phase) (phaseResult, error) {
	res := phaseResult{Name: p.name, Group: p.group, What: p.what, ShimCPU: -1}
	project := fmt.Sprintf("logbench%d", time.Now().UnixNano()%1e9)
	name := project + "_gen_1"
	gateDir, err := os.MkdirTemp("", "logbench-gate-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(gateDir)
	os.Chmod(gateDir, 0o755)

	args := []string{"run", "-d", "--name", name,
		"--label", engine.LabelComposeProject + "=" + project, "--label", engine.LabelComposeService + "=gen",
		"-v", gateDir + ":/gate"}
	if p.tty {
		args = append(args, "-t")
	}
	if !p.rotate {
		args = append(args, "--log-driver", "json-file", "--log-opt", "max-size=2g", "--log-opt", "max-file=1")
	}
	args = append(args, b.image, "-gate", "/gate/go",
		"-lines", strconv.FormatUint(p.lines, 10), "-rate", strconv.FormatFloat(p.rate, 'f', -1, 64),
		"-size", strconv.Itoa(p.opts.Size), "-stderr-every", strconv.FormatUint(p.stderrEvery, 10),
		"-ansi="+strconv.FormatBool(p.opts.ANSI), "-utf8="+strconv.FormatBool(p.opts.UTF8), "-json="+strconv.FormatBool(p.opts.JSON))
	if _, err := docker(ctx, args...); err != nil {
		return res, err
	}
	defer docker(context.WithoutCancel(ctx), "rm", "-f", name)
	// The server starts after the container, so that at clean-up it stops
	// (deferred later, run first) before the container is removed.
	ch, err := b.startServer(ctx, project, p.name, p.slow)
	if err != nil {
		return res, err
	}
	defer ch.stop()

	shim := 0
	if pid, err := dockerInspect(ctx, name, "{{.State.Pid}}"); err == nil {
		if n, err := strconv.Atoi(pid); err == nil {
			shim, _ = measure.ParentPID(n)
		}
	}

	sampler := measure.NewSampler(100 * time.Millisecond)
	sampler.Watch("dockerd", b.dockerd)
	sampler.Watch("ours", ch.pid)
	exp := expect{opts: p.opts, stderrEvery: p.stderrEvery, tty: p.tty}

	var slow *slowResult
	if p.slow {
		slow = &slowResult{StalledClosedAt: -1, ThrottledClosedAt: -1}
		st, err := ch.stats("")
		if err != nil {
			return res, err
		}
		slow.GoroutinesBase = st.Goroutines
	}

	// Attach the two consumers in a random order, so that neither is
	// always the daemon's first reader.
	dctx, stopDocker := context.WithCancel(ctx)
	defer stopDocker()
	dt := newTally(exp)
	dk := &dockerConsumer{container: name, t: dt, sampler: sampler}
	dkDone := make(chan error, 1)
	ft := newTally(exp)
	res.DockerFirst = rand.IntN(2) == 0
	if res.DockerFirst {
		go func() { dkDone <- dk.run(dctx) }()
		if err := waitReady(ctx, dt); err != nil {
			return res, err
		}
	}
	fast, err := dialWS(ctx, ch.info, benchJob, "fast", wsFast, ft)
	if err != nil {
		return res, err
	}
	if !res.DockerFirst {
		if err := waitReady(ctx, ft); err != nil {
			return res, err
		}
		go func() { dkDone <- dk.run(dctx) }()
	}
	clients := []*wsClient{fast}
	defer func() {
		for _, c := range clients {
			c.close()
		}
	}()
	var thr *wsClient
	stalled := map[string]bool{} // local addresses
	var tt *tally
	if p.slow {
		tt = newTally(exp)
		if thr, err = dialWS(ctx, ch.info, benchJob, "throttled", wsThrottled, tt); err != nil {
			return res, err
		}
		clients = append(clients, thr)
		for i := range stalledClients {
			c, err := dialWS(ctx, ch.info, benchJob, fmt.Sprintf("stalled%d", i), wsStalled, newTally(exp))
			if err != nil {
				return res, err
			}
			clients = append(clients, c)
			stalled[c.local] = true
		}
		time.Sleep(500 * time.Millisecond)
		st, err := ch.stats("gc=1")
		if err != nil {
			return res, err
		}
		slow.RSSBeforeIdle, slow.HeapBeforeIdle = st.RSS, st.HeapInuse
		for i := range idleClients {
			c, err := dialWS(ctx, ch.info, quietJob, fmt.Sprintf("idle%d", i), wsFast, newTally(exp))
			if err != nil {
				return res, err
			}
			clients = append(clients, c)
		}
		time.Sleep(500 * time.Millisecond)
		if st, err = ch.stats("gc=1"); err != nil {
			return res, err
		}
		slow.RSSAfterIdle, slow.HeapAfterIdle = st.RSS, st.HeapInuse
	}

	for _, t := range []*tally{dt, ft, tt} {
		if err := waitReady(ctx, t); err != nil {
			return res, err
		}
	}

	sampler.Start()
	res.Load1, res.Others = machineLoad(ctx, project)
	daemon0, shim0, ours0, self0 := measure.CPU(b.dockerd), measure.CPU(shim), measure.CPU(ch.pid), measure.CPU(os.Getpid())
	gate := time.Now()
	if err := os.WriteFile(filepath.Join(gateDir, "go"), nil, 0o644); err != nil {
		return res, err
	}
	wantRuns := 1
	if p.restartAt > 0 {
		wantRuns = 2
		go func() {
			select {
			case <-time.After(p.restartAt):
				if _, err := docker(ctx, "restart", "-t", "5", name); err != nil {
					fmt.Fprintf(b.log, "logbench: %v\n", err)
				}
			case <-ctx.Done():
			}
		}()
	}

	// Wait until both consumers saw every run's END line. Sample the
	// server meanwhile for the slow-client phase.
	expected := time.Duration(0)
	if p.rate > 0 {
		expected = time.Duration(float64(p.lines) / p.rate * float64(time.Second))
	} else {
		expected = time.Duration(p.lines) * 50 * time.Microsecond // 20k lines/s
	}
	deadline := time.Now().Add(expected + p.restartAt + 90*time.Second)
	tick := time.NewTicker(250 * time.Millisecond)
	for dt.endsSeen() < wantRuns || ft.endsSeen() < wantRuns {
		if time.Now().After(deadline) {
			fmt.Fprintf(b.log, "logbench: phase %s: timed out waiting for every line\n", p.name)
			break
		}
		select {
		case <-ctx.Done():
			tick.Stop()
			return res, ctx.Err()
		case <-tick.C:
		}
		if slow != nil {
			if st, err := ch.stats(""); err == nil {
				slow.WSGoroutinesMax = max(slow.WSGoroutinesMax, st.WSGoroutines)
				slow.RSSMax = max(slow.RSSMax, st.RSS)
			}
		}
	}
	tick.Stop()
	// stderr is copied by its own goroutine in the daemon: its last lines
	// may follow the END line on stdout.
	time.Sleep(500 * time.Millisecond)
	var heapEnd uint64
	if slow != nil {
		if st, err := ch.stats("gc=1"); err == nil {
			heapEnd = st.HeapInuse
		}
	}
	res.DaemonCPU = measure.CPU(b.dockerd) - daemon0
	if s := measure.CPU(shim); shim != 0 && p.restartAt == 0 && s >= shim0 {
		res.ShimCPU = s - shim0
	}
	res.OursCPU = measure.CPU(ch.pid) - ours0
	res.HarnessCPU = measure.CPU(os.Getpid()) - self0
	if slow != nil {
		slow.HeapLive = heapEnd
	}

	if slow != nil {
		// Let the throttled client drain to the end, so that what it got
		// and what it was told it missed can be added up.
		thr.unthrottle()
		drainBy := time.Now().Add(90 * time.Second)
		for tt.endsSeen() < wantRuns && time.Now().Before(drainBy) {
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		st, err := ch.stats("ingest=1")
		if err != nil {
			return res, err
		}
		for _, c := range st.Closed {
			switch {
			case stalled[c.Remote]:
				slow.StalledClosed++
				slow.StalledClosedAt = max(slow.StalledClosedAt, time.Unix(0, c.AtNS).Sub(gate))
			case c.Remote == thr.local:
				slow.ThrottledClosedAt = time.Unix(0, c.AtNS).Sub(gate)
			}
		}
		lag := make([]time.Duration, len(st.Ingest))
		for i, v := range st.Ingest {
			lag[i] = time.Duration(v)
		}
		slow.Ingest = measure.Summarize(lag)
		slow.HubLast, _, _ = fast.cov.check()
		slow.ThrottledLast, slow.ThrottledHoles, slow.ThrottledOverlaps = thr.cov.check()
	}

	dk.stop()
	select {
	case <-dkDone:
	case <-time.After(5 * time.Second):
		stopDocker()
		<-dkDone
	}
	for _, c := range clients {
		c.close()
	}
	clients = nil
	if slow != nil && thr.err != nil && slow.ThrottledClosedAt >= 0 {
		slow.ThrottledErr = thr.err.Error()
	}
	if st, err := ch.stats(""); err == nil {
		res.Opened = st.Opened
	}
	res.Markers = fast.markers.Load()
	if slow != nil {
		time.Sleep(2 * time.Second)
		if st, err := ch.stats(""); err == nil {
			slow.GoroutinesAfter, slow.WSGoroutinesAfter = st.Goroutines, st.WSGoroutines
		}
	}
	res.PeakRSS = sampler.Stop()
	res.CLICPU = dk.cpuTime()

	tallies := []*tally{dt, ft}
	if tt != nil {
		tallies = append(tallies, tt)
	}
	runs := produced(tallies...)
	res.Runs = len(runs)
	for _, n := range runs {
		res.Produced += n
	}
	res.Docker = dt.result("docker logs -f", runs, gate)
	res.Ours = ft.result("websocket", runs, gate)
	if slow != nil {
		slow.Throttled = tt.result("throttled", runs, gate)
		res.Slow = slow
	}
	return res, nil
}

// waitReady waits until t has seen the generator's READY line: its consumer
// is attached. A nil t is ready.
func waitReady(ctx context.Context, t *tally) error {
	if t == nil {
		return nil
	}
	select {
	case <-t.ready:
		return nil
	case <-time.After(30 * time.Second):
		return errors.New("a consumer did not see the READY line within 30 s")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// machineLoad returns the one-minute load average and how many running
// containers are not this phase's.
func machineLoad(ctx context.Context, project string) (string, int) {
	load := "-"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			load = f[0]
		}
	}
	out, err := docker(ctx, "ps", "-q", "--filter", "status=running")
	if err != nil {
		return load, -1
	}
	n := len(strings.Fields(out))
	own, _ := docker(ctx, "ps", "-q", "--filter", "label="+engine.LabelComposeProject+"="+project)
	return load, n - len(strings.Fields(own))
}

// child is the server half, a "logbench serve" process.
type child struct {
	cmd  *exec.Cmd
	pid  int
	info serverInfo
}

func (b *bench) startServer(ctx context.Context, project, phase string, probe bool) (*child, error) {
	args := []string{"serve", "-project", project}
	if probe {
		args = append(args, "-ingest-probe")
	}
	if b.profiles != "" {
		args = append(args, "-cpuprofile", filepath.Join(b.profiles, phase+".pprof"))
	}
	cmd := exec.Command(b.self, args...)
	cmd.Stderr = b.log
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, pid: cmd.Process.Pid, info: serverInfo{View: b.view}}
	first := make(chan error, 1)
	go func() {
		br := bufio.NewReader(out)
		line, err := br.ReadBytes('\n')
		if err == nil {
			err = json.Unmarshal(line, &c.info)
		}
		first <- err
		io.Copy(io.Discard, br)
	}()
	select {
	case err = <-first:
	case <-time.After(30 * time.Second):
		err = errors.New("no answer in 30 s")
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		c.stop()
		return nil, fmt.Errorf("start logbench serve: %w", err)
	}
	return c, nil
}

// stats asks the server for its counters. query may hold "gc=1" (collect
// garbage first, so the heap is live memory) and "ingest=1" (also take the
// ingest lags recorded so far).
func (c *child) stats(query string) (serverStats, error) {
	u := c.info.Debug + "/stats?" + query
	hc := &http.Client{Timeout: 10 * time.Second}
	res, err := hc.Get(u)
	if err != nil {
		return serverStats{}, err
	}
	defer res.Body.Close()
	var st serverStats
	return st, json.NewDecoder(res.Body).Decode(&st)
}

func (c *child) stop() {
	c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}
