package images

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/registrytest"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// BenchmarkPull pulls the same images from the same in-process registry
// through the pull phase (one image at a time, then two at a time as the
// install runs it) and through `docker pull` (one image after the other),
// alternating within each iteration so that all see the same machine
// load, and reports the ratios of their times. All go through the daemon;
// the first ratio is what the phase's manifest requests, progress
// decoding and bookkeeping add, the second what the install's pull takes
// against an admin pulling by hand.
//
//	go test -run '^$' -bench BenchmarkPull -benchtime 5x ./internal/images/
func BenchmarkPull(b *testing.B) {
	docker := testenv.LookPath(b, "docker", "apt-get install docker.io")
	eng := registrytest.Engine(b)
	reg := registrytest.Start(b, registrytest.Options{})
	ctx := context.Background()
	name := registrytest.UniqueName("carto-setup-imagesbench/")
	var refs []string
	for _, suffix := range []string{"-a:1", "-b:1", "-c:1"} {
		local := name + "-local" + suffix
		registrytest.BuildImage(b, eng, local, 1<<20, 4<<20, 8<<20)
		remote := reg.Ref(name + suffix)
		if err := reg.Push(ctx, eng, local, remote); err != nil {
			b.Fatal(err)
		}
		if err := eng.RemoveImage(ctx, local); err != nil {
			b.Fatal(err)
		}
		registrytest.RemoveAfter(b, eng, remote)
		refs = append(refs, remote)
	}
	remote := &Remote{Keychain: reg.Keychain()}
	clear := func() {
		for _, ref := range refs {
			if err := eng.RemoveImage(ctx, ref); err != nil {
				b.Fatal(err)
			}
		}
	}
	var ours, install, theirs time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		clear()
		b.StartTimer()
		start := time.Now()
		if _, err := Pull(ctx, eng, refs, Config{Remote: remote, Concurrency: 1, OnProgress: func(Progress) {}}); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(start)

		// As the install runs it: two images at a time.
		b.StopTimer()
		clear()
		b.StartTimer()
		start = time.Now()
		if _, err := Pull(ctx, eng, refs, Config{Remote: remote, OnProgress: func(Progress) {}}); err != nil {
			b.Fatal(err)
		}
		install += time.Since(start)

		b.StopTimer()
		clear()
		b.StartTimer()
		start = time.Now()
		for _, ref := range refs {
			if out, err := exec.CommandContext(ctx, docker, "pull", "--quiet", ref).CombinedOutput(); err != nil {
				b.Fatalf("docker pull %s: %v\n%s", ref, err, out)
			}
		}
		theirs += time.Since(start)
	}
	b.StopTimer()
	ratio := float64(ours) / float64(theirs)
	b.ReportMetric(float64(ours.Milliseconds())/float64(b.N), "ms/pull-phase")
	b.ReportMetric(float64(install.Milliseconds())/float64(b.N), "ms/pull-phase-2")
	b.ReportMetric(float64(theirs.Milliseconds())/float64(b.N), "ms/docker-pull")
	b.ReportMetric(ratio, "ratio")
	b.ReportMetric(float64(install)/float64(theirs), "ratio-2")
	b.Logf("3 images of 13 MiB over %d runs, per run: pull phase one at a time %s, two at a time (the install's) %s, docker pull one after the other %s: ratios %.2f and %.2f",
		b.N, ours/time.Duration(b.N), install/time.Duration(b.N), theirs/time.Duration(b.N), ratio, float64(install)/float64(theirs))
}
