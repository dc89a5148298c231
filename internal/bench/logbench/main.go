package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/carto-setup/carto-setup/internal/bench/measure"
	"github.com/carto-setup/carto-setup/internal/engine"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "logbench:", err)
		os.Exit(1)
	}
}

// run is the harness; "serve" runs the server half in a child process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "serve" {
		return serve(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("logbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	only := fs.String("phases", "", "comma-separated phase names to run (default: all)")
	steady := fs.Duration("steady", 15*time.Second, "length of the steady-rate phases")
	short := fs.Duration("short", 10*time.Second, "length of the long-line, ANSI, stderr, TTY and restart phases")
	burst := fs.Uint64("burst", 1_000_000, "lines of the burst phase")
	repeat := fs.Int("repeat", 3, "runs of the burst phase (its figures vary most on a shared machine); the report gives their median")
	slow := fs.Duration("slow", 25*time.Second, "length of each slow-client phase")
	jsonOut := fs.String("json", "", "also write the results as JSON to this file")
	profiles := fs.String("cpuprofile", "", "write each phase's server CPU profile to DIR/<phase>.pprof")
	view := fs.String("view", "job", `the live view the clients read: "job" (an install's log) or "page" (the Logs page's live tail)`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := exec.LookPath("docker"); err != nil {
		return fmt.Errorf("the docker CLI is needed for the docker logs -f side: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cli, err := engine.New(ctx)
	if err != nil {
		return fmt.Errorf("docker engine: %w", err)
	}
	defer cli.Close()

	if *view != "job" && *view != "page" {
		return fmt.Errorf("-view %q: want job or page", *view)
	}
	b := &bench{cli: cli, self: self, log: stderr, dockerd: measureDockerd(), profiles: *profiles, view: *view}
	if *profiles != "" {
		if err := os.MkdirAll(*profiles, 0o755); err != nil {
			return err
		}
	}
	if b.dockerd == 0 {
		fmt.Fprintln(stderr, "logbench: dockerd is not visible in /proc; its CPU and memory are not reported")
	}
	m, err := machineInfo(ctx, cli)
	if err != nil {
		return err
	}
	fmt.Fprintln(stderr, "logbench: building loggen into a FROM scratch image")
	if b.image, err = buildLoggen(ctx, cli); err != nil {
		return err
	}
	defer cli.RemoveImage(context.WithoutCancel(ctx), b.image)

	phases := allPhases(*steady, *short, *burst, *slow, *repeat)
	if *only != "" {
		want := map[string]bool{}
		for _, n := range strings.Split(*only, ",") {
			want[strings.TrimSpace(n)] = true
		}
		var sel []phase
		for _, p := range phases {
			if want[p.name] || want[p.group] {
				sel = append(sel, p)
			}
		}
		phases = sel
	}
	rep := report{Machine: m, Started: time.Now().UTC()}
	for _, p := range phases {
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(stderr, "logbench: phase %s: %s\n", p.name, p.what)
		r, err := b.runPhase(ctx, p)
		if err != nil {
			fmt.Fprintf(stderr, "logbench: phase %s: %v\n", p.name, err)
			r.Err = err.Error()
		}
		rep.Phases = append(rep.Phases, r)
	}
	rep.Finished = time.Now().UTC()
	rep.print(stdout)
	if *jsonOut != "" {
		if err := os.MkdirAll(filepath.Dir(*jsonOut), 0o755); err != nil {
			return err
		}
		data, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonOut, data, 0o644); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// buildLoggen compiles loggen statically and builds it into a FROM scratch
// image through the Engine API; it returns the image's tag.
func buildLoggen(ctx context.Context, cli *engine.Client) (string, error) {
	dir, err := os.MkdirTemp("", "logbench-loggen-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "loggen")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "github.com/carto-setup/carto-setup/internal/bench/loggen")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build loggen: %w\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	tag := fmt.Sprintf("carto-setup-logbench-loggen:%d", time.Now().UnixNano())
	df := "FROM scratch\nCOPY loggen /loggen\nENTRYPOINT [\"/loggen\"]\n"
	if err := cli.BuildImage(ctx, tag, map[string]engine.BuildFile{"loggen": {Data: data, Mode: 0o755}}, df, nil); err != nil {
		return "", err
	}
	return tag, nil
}

// machine describes where a run happened.
type machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	MemTotal   string `json:"mem_total"`
	Kernel     string `json:"kernel"`
	Docker     string `json:"docker"`
	DockerAPI  string `json:"docker_api"`
	LogDriver  string `json:"log_driver"`
	StorageDrv string `json:"storage_driver"`
	Go         string `json:"go"`
}

func machineInfo(ctx context.Context, cli *engine.Client) (machine, error) {
	m := machine{CPU: measure.CPUModel(), Cores: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				m.MemTotal = strings.TrimSpace(v)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	v, err := cli.Version(ctx)
	if err != nil {
		return m, err
	}
	m.Docker, m.DockerAPI = v.Version, v.APIVersion
	if out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.LoggingDriver}} {{.Driver}}").Output(); err == nil {
		m.LogDriver, m.StorageDrv, _ = strings.Cut(strings.TrimSpace(string(out)), " ")
	}
	return m, nil
}
