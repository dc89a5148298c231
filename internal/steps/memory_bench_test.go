package steps

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/certcheck"
	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/jobs"
	"github.com/carto-setup/carto-setup/internal/pgtest"
	"github.com/carto-setup/carto-setup/internal/testenv"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// installsPerRun is how many consecutive installs the memory benchmark
// runs per variant (issue 20: RSS after 10 installs).
const installsPerRun = 10

// BenchmarkRSSAfterInstalls runs 10 consecutive installs of the stand-in
// release through the wizard's install job (Installer.Start: lock, Compose,
// the log follower, the board), with services that log a 1 KB line every
// 20 ms each, so that every install's hubs fill as a chatty CARTO's do. It
// reports the process's RSS and heap at the start, after each install and
// at the end, twice: as the installer keeps jobs now (jobs.Retainer: the
// finished job's last lines only) and as it kept them before (every hub for
// the life of the process), which is the baseline of the same run.
//
//	go test -run '^$' -bench BenchmarkRSSAfterInstalls -benchtime 1x ./internal/steps/
func BenchmarkRSSAfterInstalls(b *testing.B) {
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil || len(out) == 0 {
		testenv.Missing(b, "Docker Engine", "install and start Docker")
	}
	bin := staticBinary(b)
	version := fmt.Sprintf("2026.8.11-mem%d", rand.IntN(1e6))
	project := fmt.Sprintf("mem%06d", rand.IntN(1e6))
	dir, stateDir := b.TempDir(), b.TempDir()
	if err := release.Write(dir, version); err != nil {
		b.Fatal(err)
	}
	// The stand-in's migrations need a real PostgreSQL, which the
	// containers reach through the Docker bridge.
	pg := pgtest.Start(b, pgtest.Options{ListenAddrs: []string{"172.17.0.1"}})
	st := chattyState(b)
	st.Database = wizard.DatabaseInput{Mode: wizard.ModeExternal, Host: "172.17.0.1", Port: pg.Port, AdminUser: pg.User, AdminPassword: pg.Password,
		AdminDatabase: "postgres", WorkspaceUser: "workspace_admin", WorkspacePassword: "mem-bench-Workspace-1", WorkspaceDatabase: "workspace",
		SSLMode: "disable"}
	b.Cleanup(func() { removeStack(b, dir, project, version) })
	ensure := func(ctx context.Context, plan deploy.Plan, _ io.Writer) error {
		eng, err := engine.New(ctx)
		if err != nil {
			return err
		}
		defer eng.Close()
		_, err = release.EnsureImages(ctx, eng, bin, plan.Version(), io.Discard)
		return err
	}
	for b.Loop() {
		for _, variant := range []string{"retainer", "kept-forever"} {
			runner, err := jobs.NewRunner(context.Background(), filepath.Join(stateDir, "jobs-"+variant), time.Now)
			if err != nil {
				b.Fatal(err)
			}
			in := NewInstaller(InstallConfig{Runner: runner, Store: wizard.NewMemStore(st), ReleaseDir: dir, StateDir: stateDir,
				Project: project, Expect: 4 * time.Minute, Images: &ImagesConfig{Prepare: func(ctx context.Context, plan deploy.Plan, _ []string, progress io.Writer) error {
					return ensure(ctx, plan, progress)
				}}})
			if variant == "kept-forever" {
				// The installer before jobs.Retainer: every run whole,
				// for the life of the process.
				in.runs = jobs.NewRetainer(1<<30, func(r *installRun) *installRun { return r })
			}
			start, startHeap := memory()
			var after []string
			var rss float64
			for i := range installsPerRun {
				id, err := in.Start(st)
				if err != nil {
					b.Fatal(err)
				}
				var rec jobs.Record
				for rec, _ = runner.Get(id); !rec.Done(); rec, _ = runner.Get(id) {
					time.Sleep(200 * time.Millisecond)
				}
				if rec.Status != jobs.Succeeded {
					b.Fatalf("%s install %d: %s", variant, i+1, rec.Error)
				}
				rss, _ = memory()
				after = append(after, strconv.FormatFloat(rss/(1<<20), 'f', 0, 64))
			}
			time.Sleep(2 * time.Second) // idle
			idle, idleHeap := memory()
			running, finished := in.runs.Len()
			b.Logf("%s: RSS MiB at start %.0f, after each install %s, idle %.0f; heap MiB %.0f -> %.0f; runs held %d running, %d finished",
				variant, start/(1<<20), strings.Join(after, " "), idle/(1<<20), startHeap/(1<<20), idleHeap/(1<<20), running, finished)
			b.ReportMetric(start/(1<<20), variant+"-rssMiB@start")
			b.ReportMetric(idle/(1<<20), variant+"-rssMiB@10-installs")
			b.ReportMetric(idle/start, variant+"-rss-ratio-10/start")
			runtime.KeepAlive(in)
		}
	}
}

// memory returns the process's RSS and live heap after a collection that
// returns freed memory to the system.
func memory() (rss, heap float64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b, _ := os.ReadFile("/proc/self/statm")
	if f := strings.Fields(string(b)); len(f) > 1 {
		pages, _ := strconv.ParseFloat(f[1], 64)
		rss = pages * float64(os.Getpagesize())
	}
	return rss, float64(ms.HeapAlloc)
}

// chattyState is a wizard state that installs the stand-in release with
// every service logging a 1 KB line every 20 ms, on ports nothing uses;
// the caller sets the database.
func chattyState(tb testing.TB) wizard.State {
	env := string(release.SampleCustomerEnv("carto.mem.test"))
	env += fmt.Sprintf("ROUTER_HTTP_PORT=%d\nROUTER_HTTPS_PORT=%d\nROUTER_METRICS_PORT=%d\nSTANDIN_LOG_INTERVAL=20ms\nSTANDIN_LONG_LINE_BYTES=1000\n",
		testenv.ClosedPort(tb), testenv.ClosedPort(tb), testenv.ClosedPort(tb))
	key, err := release.SampleKeyJSON()
	if err != nil {
		tb.Fatal(err)
	}
	cert, pk, fp, err := certcheck.SelfSigned("carto.mem.test", time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return wizard.State{
		Package: wizard.PackageInput{CustomerEnv: env, KeyJSON: string(key)},
		Domain:  wizard.DomainInput{Domain: "carto.mem.test"},
		Cache:   CacheDefaults(),
		TLS:     wizard.TLSInput{Mode: wizard.TLSSelfSigned, CertPEM: string(cert), KeyPEM: string(pk), Fingerprint: fp},
		Buckets: wizard.BucketsInput{Mode: wizard.BucketsCartoManaged, Thumbnails: wizard.BucketInput{Public: true}},
	}
}

// staticBinary builds a static carto-setup for the stand-in images.
func staticBinary(tb testing.TB) string {
	out := filepath.Join(tb.TempDir(), "carto-setup")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./cmd/carto-setup")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// removeStack takes the benchmark's stack and images down.
func removeStack(tb testing.TB, dir, project, version string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if tool, err := compose.Detect(ctx, exec.LookPath, compose.Exec); err == nil {
		argv := tool.Args(project, dir, "down", "-v", "--remove-orphans")
		if out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput(); err != nil {
			tb.Logf("compose down: %v\n%s", err, out)
		}
	}
	if eng, err := engine.New(ctx); err == nil {
		release.RemoveImages(ctx, eng, version)
		eng.Close()
	}
}
