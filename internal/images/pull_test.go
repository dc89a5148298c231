package images

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/registrytest"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// pushed builds a FROM scratch image with random layers of the given
// sizes, publishes it as path under reg, removes the local copy (the daemon
// skips pulling an image it has) and returns the remote reference, which
// is removed from the engine when the test ends.
func pushed(t *testing.T, eng *engine.Client, reg *registrytest.Registry, path string, layers ...int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	local := registrytest.UniqueName("carto-setup-imagestest/local:")
	registrytest.BuildImage(t, eng, local, layers...)
	remote := reg.Ref(path)
	if err := reg.Push(ctx, eng, local, remote); err != nil {
		t.Fatal(err)
	}
	if err := eng.RemoveImage(ctx, local); err != nil {
		t.Fatal(err)
	}
	registrytest.RemoveAfter(t, eng, remote)
	return remote
}

// recorder keeps every progress report.
type recorder struct {
	mu      sync.Mutex
	reports []Progress
	on      func(Progress)
}

func (r *recorder) add(p Progress) {
	r.mu.Lock()
	r.reports = append(r.reports, p)
	on := r.on
	r.mu.Unlock()
	if on != nil {
		on(p)
	}
}

func (r *recorder) of(ref string) []Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Progress
	for _, p := range r.reports {
		if p.Image == ref {
			out = append(out, p)
		}
	}
	return out
}

// TestPullStandinRelease publishes an image under the name the stand-in
// release's compose file gives every service once pointed at the
// in-process registry, and pulls the release's images: the progress moves
// byte by byte up to the manifest's total, and a second pull finds the
// image present and downloads nothing.
func TestPullStandinRelease(t *testing.T) {
	t.Parallel()
	eng := registrytest.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	reg := registrytest.Start(t, registrytest.Options{Rate: 2 << 20})
	version := registrytest.UniqueName("2026.8.11-t")
	base := reg.Host + "/carto-standin"
	dir := writeStandin(t, version, base)

	// Any images serve as the stand-in's here: the pull does not run
	// them. The router's is small; the rest share the big one.
	tags := release.ImageTags(version)
	registrytest.BuildImage(t, eng, tags[0], 256<<10, 1<<20, 3<<20)
	registrytest.BuildImage(t, eng, tags[1], 64<<10)
	push := func(ctx context.Context, local, remote string) error { return reg.Push(ctx, eng, local, remote) }
	if err := release.PushImages(ctx, push, base, version); err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags {
		if err := eng.RemoveImage(ctx, tag); err != nil {
			t.Fatal(err)
		}
	}
	list, err := ListRelease(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	refs := Refs(list)
	remoteTags := release.RemoteImageTags(base, version)
	if !slices.Equal(refs, []string{remoteTags[1], remoteTags[0]}) {
		t.Fatalf("the release names %v, want %v", refs, remoteTags)
	}
	ref := release.RemoteImageTags(base, version)[0]
	registrytest.RemoveAfter(t, eng, refs...)

	remote := &Remote{Keychain: reg.Keychain()}
	m, err := remote.Manifest(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	var layerBytes int64
	for _, l := range m.Layers {
		layerBytes += l.Size
	}

	var rec recorder
	start := time.Now()
	final, err := Pull(ctx, eng, refs, Config{Remote: remote, Interval: 100 * time.Millisecond, OnProgress: rec.add})
	if err != nil {
		t.Fatalf("Pull: %v", err)
	}
	t.Logf("pulled %d bytes in %s", layerBytes, time.Since(start))
	if len(final) != 2 || final[0].Status != Done || final[1].Status != Done {
		t.Fatalf("final progress %+v, want both done", final)
	}
	if f := final[1]; f.Image != ref || f.LayersDone != 3 || f.LayersTotal != 3 || f.BytesDone != layerBytes {
		t.Fatalf("final progress %+v, want %s done, 3 of 3 layers, %d bytes", f, ref, layerBytes)
	}
	var pulling []Progress
	for _, p := range rec.of(ref) {
		if p.Status == Pulling {
			pulling = append(pulling, p)
		}
	}
	if len(pulling) < 5 {
		t.Fatalf("%d reports while pulling, want the bytes reported as they move", len(pulling))
	}
	var rising, withRate, withETA int
	for i, p := range pulling {
		if !p.SizeKnown || p.BytesTotal != layerBytes {
			t.Errorf("report %d: total %d (known %v), want %d from the manifest at once", i, p.BytesTotal, p.SizeKnown, layerBytes)
		}
		if i > 0 && p.BytesDone > pulling[i-1].BytesDone {
			rising++
		}
		if i > 0 && p.BytesDone < pulling[i-1].BytesDone {
			t.Errorf("report %d: bytes went back from %d to %d", i, pulling[i-1].BytesDone, p.BytesDone)
		}
		if p.Rate > 0 {
			withRate++
		}
		if p.SecondsLeft > 0 {
			withETA++
		}
	}
	if rising < 3 || withRate == 0 || withETA == 0 {
		t.Errorf("while pulling: bytes rose %d times, %d reports had a rate, %d a time left; want several of each", rising, withRate, withETA)
	}
	info, err := eng.InspectImage(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if info.User != "1000:1000" || len(info.RepoDigests) != 1 || !strings.HasSuffix(info.RepoDigests[0], "@"+m.Digest) {
		t.Errorf("pulled image: user %q, digests %v; want 1000:1000 and %s", info.User, info.RepoDigests, m.Digest)
	}

	gets := reg.BlobGets()
	again, err := Pull(ctx, eng, refs, Config{Remote: remote})
	if err != nil {
		t.Fatal(err)
	}
	if again[0].Status != Present || again[1].Status != Present || reg.BlobGets() != gets {
		t.Errorf("second pull: %+v and %d more downloads, want present and none", again, reg.BlobGets()-gets)
	}
}

// TestPullInterruptedResumes stops the registry while the second of two
// images downloads: the failure is named within the stall timeout, and a
// second run skips the first image and finishes the second.
func TestPullInterruptedResumes(t *testing.T) {
	t.Parallel()
	eng := registrytest.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	reg := registrytest.Start(t, registrytest.Options{})
	name := registrytest.UniqueName("carto-setup-imagestest/resume-")
	small := pushed(t, eng, reg, name+"-a:1", 128<<10)
	big := pushed(t, eng, reg, name+"-b:1", 256<<10, 6<<20)
	reg.SetRate(1 << 20)

	var stopOnce sync.Once
	var stoppedAt time.Time
	rec := recorder{on: func(p Progress) {
		if p.Image == big && p.BytesDone > 512<<10 {
			stopOnce.Do(func() { stoppedAt = time.Now(); reg.Stop() })
		}
	}}
	remote := &Remote{Keychain: reg.Keychain()}
	_, err := Pull(ctx, eng, []string{small, big}, Config{Remote: remote, Concurrency: 1, Stall: 3 * time.Second,
		Interval: 100 * time.Millisecond, OnProgress: rec.add})
	if stoppedAt.IsZero() {
		t.Fatalf("the big image never downloaded 512 KiB; Pull: %v", err)
	}
	took := time.Since(stoppedAt)
	var perr *Error
	if !errors.As(err, &perr) || len(perr.Failures) != 1 {
		t.Fatalf("Pull after the registry stopped: %v, want one failure", err)
	}
	f := perr.Failures[0]
	if f.Image != big || f.Kind != Unreachable || !strings.Contains(f.Message, reg.Host) || !strings.Contains(f.Detail, "does not answer") {
		t.Errorf("failure %+v, want %s unreachable naming %s", f, big, reg.Host)
	}
	if took > 45*time.Second {
		t.Errorf("the failure came %s after the registry stopped, want within the 3 s stall plus the probe", took)
	}
	t.Logf("failure named %s after the stop: %s / %s", took.Round(time.Millisecond), f.Message, f.Detail)
	if _, err := eng.InspectImage(ctx, small); err != nil {
		t.Errorf("the image finished before the stop is gone: %v", err)
	}

	reg.Restart(t)
	reg.SetRate(0)
	before := reg.BlobBytes()
	final, err := Pull(ctx, eng, []string{small, big}, Config{Remote: remote})
	if err != nil {
		t.Fatalf("second Pull: %v", err)
	}
	if final[0].Status != Present || final[1].Status != Done {
		t.Errorf("second run: %s %s, %s %s; want present, done", small, final[0].Status, big, final[1].Status)
	}
	served := reg.BlobBytes() - before
	if served < final[1].BytesTotal || served >= final[1].BytesTotal+128<<10 {
		t.Errorf("second run downloaded %d bytes, want the big image's %d and not the small one again", served, final[1].BytesTotal)
	}
}

// TestPullFailuresNamed pulls from a registry that requires a login:
// without it every image is denied; with it the image comes and the
// missing tag is named as such. An unreachable registry fails at once.
func TestPullFailuresNamed(t *testing.T) {
	t.Parallel()
	eng := registrytest.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	reg := registrytest.Start(t, registrytest.Options{Username: "carto", Password: "pull-secret"})
	name := registrytest.UniqueName("carto-setup-imagestest/fail-")
	good := pushed(t, eng, reg, name+":1", 64<<10)
	missing := reg.Ref(name + ":2")

	t.Run("no login", func(t *testing.T) {
		_, err := Pull(ctx, eng, []string{good}, Config{Remote: &Remote{Keychain: authn.NewMultiKeychain()}})
		var perr *Error
		if !errors.As(err, &perr) || len(perr.Failures) != 1 || perr.Failures[0].Kind != Denied {
			t.Fatalf("Pull without the login: %v, want denied", err)
		}
		if !strings.Contains(perr.Failures[0].Hint, "docker login "+reg.Host) {
			t.Errorf("hint %q does not say how to log in", perr.Failures[0].Hint)
		}
		if strings.Contains(fmt.Sprintf("%+v", perr.Failures), "pull-secret") {
			t.Error("the failure shows the password")
		}
	})
	t.Run("login, missing tag", func(t *testing.T) {
		final, err := Pull(ctx, eng, []string{good, missing}, Config{Remote: &Remote{Keychain: reg.Keychain()}})
		var perr *Error
		if !errors.As(err, &perr) || len(perr.Failures) != 1 {
			t.Fatalf("Pull: %v, want one failure", err)
		}
		f := perr.Failures[0]
		if f.Image != missing || f.Kind != NotFound || !strings.Contains(f.Message, "has no tag 2") || !strings.Contains(f.Hint, "disagree") {
			t.Errorf("failure %+v, want %s not found", f, missing)
		}
		if final[0].Status != Done {
			t.Errorf("%s: %s, want done (a missing tag must not stop the others)", good, final[0].Status)
		}
		registrytest.RemoveAfter(t, eng, missing)
	})
	t.Run("unreachable", func(t *testing.T) {
		gone := fmt.Sprintf("127.0.0.1:%d/%s:1", testenv.ClosedPort(t), name)
		other := fmt.Sprintf("127.0.0.1:%d/%s:2", testenv.ClosedPort(t), name)
		final, err := Pull(ctx, eng, []string{gone, other}, Config{Concurrency: 1, Remote: &Remote{Keychain: authn.NewMultiKeychain()}})
		var perr *Error
		if !errors.As(err, &perr) || len(perr.Failures) != 1 || perr.Failures[0].Kind != Unreachable {
			t.Fatalf("Pull from a closed port: %v, want unreachable", err)
		}
		if !strings.Contains(perr.Failures[0].Hint, "connects directly") {
			t.Errorf("hint %q does not name the (absent) proxy", perr.Failures[0].Hint)
		}
		if final[1].Status != Skipped || !slices.Equal(perr.Skipped, []string{other}) {
			t.Errorf("the image after an unreachable registry: %s, skipped %v; want it skipped", final[1].Status, perr.Skipped)
		}
	})
}

// TestPullCancelled stops the phase the way a wizard restart does.
func TestPullCancelled(t *testing.T) {
	t.Parallel()
	eng := registrytest.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	reg := registrytest.Start(t, registrytest.Options{Rate: 512 << 10})
	name := registrytest.UniqueName("carto-setup-imagestest/cancel-")
	a := pushed(t, eng, reg, name+"-a:1", 4<<20)
	b := pushed(t, eng, reg, name+"-b:1", 64<<10)
	pctx, stop := context.WithCancel(ctx)
	rec := recorder{on: func(p Progress) {
		if p.Image == a && p.BytesDone > 0 {
			stop()
		}
	}}
	final, err := Pull(pctx, eng, []string{a, b}, Config{Concurrency: 1, Remote: &Remote{Keychain: reg.Keychain()}, Interval: 50 * time.Millisecond, OnProgress: rec.add})
	var perr *Error
	if !errors.As(err, &perr) || len(perr.Failures) != 1 || perr.Failures[0].Kind != Cancelled {
		t.Fatalf("Pull cancelled: %v, want one cancelled failure", err)
	}
	if final[1].Status != Skipped {
		t.Errorf("%s after the cancel: %s, want skipped", b, final[1].Status)
	}
	if _, err := eng.InspectImage(ctx, a); !errors.Is(err, engine.ErrImageNotFound) {
		t.Errorf("the cancelled image: %v, want not present", err)
	}
}
