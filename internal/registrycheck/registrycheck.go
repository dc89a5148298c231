package registrycheck

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/images"
)

// Step is the step of every result: the group belongs to preflight.
const Step = "preflight"

// Result IDs. The registry result has one per registry host:
// "preflight.registry.gcr.io".
const (
	IDRegistryPrefix = "preflight.registry."
	IDImages         = "preflight.images"
	IDImagesDisk     = "preflight.images_disk"
)

// Engine is the part of the Docker Engine the checks use; *engine.Client
// satisfies it.
type Engine interface {
	Info(ctx context.Context) (engine.Info, error)
	InspectImage(ctx context.Context, ref string) (engine.ImageInfo, error)
}

// Deps are what the checks talk to.
type Deps struct {
	Engine Engine
	// Remote asks the registries; nil means Docker's credentials. Its
	// Insecure rule, when nil, is taken from the engine.
	Remote *images.Remote
	// FreeBytes measures the free space of the filesystem holding path;
	// nil means statfs.
	FreeBytes func(path string) (uint64, error)
}

// Disk sizing. Layers are downloaded compressed and extracted next to
// that; a CARTO image's layers (Node.js code, mostly text) extract to
// about twice their compressed size, and each download is held until it
// is extracted. So a pull needs about three times the compressed bytes at
// its peak; the headroom keeps the host usable afterwards.
const (
	diskFactor   = 3
	diskHeadroom = 2e9
)

// manifestConcurrency bounds the manifest requests in flight.
const manifestConcurrency = 4

// Run checks images (the references the release's compose file names,
// resolved with the planned .env; see images.List) and returns, in this
// order, one registry result per registry host, the images result and the
// disk result.
func Run(ctx context.Context, deps Deps, refs []string) []check.Result {
	if deps.FreeBytes == nil {
		deps.FreeBytes = statFree
	}
	refs = slices.Compact(slices.Sorted(slices.Values(refs)))
	info, err := deps.Engine.Info(ctx)
	if err != nil {
		r := result(IDImages, check.Error, "Docker Engine not reachable", "every image of the release, present or in its registry",
			"Could not ask Docker which images it has.", "Fix the Docker check first.")
		return []check.Result{r}
	}
	remote := images.Remote{}
	if deps.Remote != nil {
		remote = *deps.Remote
	}
	if remote.Insecure == nil {
		remote.Insecure = images.DockerInsecure(info, nil)
	}

	var missing []string
	for _, ref := range refs {
		_, err := deps.Engine.InspectImage(ctx, ref)
		switch {
		case errors.Is(err, engine.ErrImageNotFound):
			missing = append(missing, ref)
		case err != nil:
			r := result(IDImages, check.Error, "inspect failed", "every image of the release, present or in its registry",
				"Could not ask Docker whether it has "+ref+".", "Check that Docker is running (docker info).")
			return []check.Result{r}
		}
	}
	present := len(refs) - len(missing)
	if len(missing) == 0 {
		return offline(refs)
	}

	var out []check.Result
	hosts := registries(missing)
	for _, host := range hosts {
		out = append(out, checkRegistry(ctx, &remote, host, missing))
	}
	manifests, failures := fetchManifests(ctx, &remote, missing)
	out = append(out, imagesResult(len(refs), present, manifests, failures))
	out = append(out, diskResult(info.DockerRootDir, deps.FreeBytes, manifests, failures))
	return out
}

func result(id string, status check.Status, measured, required, message, hint string) check.Result {
	return check.Result{Step: Step, ID: id, Status: status, Measured: measured, Required: required, Message: message, Hint: hint}
}

// offline is the answer when the engine has every image: no registry is
// needed, so its egress passes.
func offline(refs []string) []check.Result {
	measured := fmt.Sprintf("%d of %d images present locally", len(refs), len(refs))
	var out []check.Result
	for _, host := range registries(refs) {
		out = append(out, result(IDRegistryPrefix+host, check.Pass, measured, "the registry, or every image present",
			"offline: every image present; the registry "+host+" is not needed.", ""))
	}
	out = append(out,
		result(IDImages, check.Pass, measured, "every image of the release, present or in its registry",
			"offline: every image present.", ""),
		result(IDImagesDisk, check.Pass, "nothing to download", "room for the images to download",
			"Every image is present; the install downloads nothing.", ""))
	return out
}

// registries returns the registry hosts of refs, sorted.
func registries(refs []string) []string {
	var hosts []string
	for _, ref := range refs {
		if h := images.Registry(ref); !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	slices.Sort(hosts)
	return hosts
}

func checkRegistry(ctx context.Context, remote *images.Remote, host string, missing []string) check.Result {
	id := IDRegistryPrefix + host
	n := 0
	for _, ref := range missing {
		if images.Registry(ref) == host {
			n++
		}
	}
	required := fmt.Sprintf("an answer from %s's registry API (%d image(s) to pull from it)", host, n)
	login, err := remote.Ping(ctx, host)
	if err != nil {
		var re *images.RemoteError
		if errors.As(err, &re) {
			f := re.Failure()
			return result(id, check.Fail, string(re.Kind)+": "+re.Detail, required, f.Message, f.Hint)
		}
		return result(id, check.Error, err.Error(), required, "Could not check the registry "+host+".", "")
	}
	measured := "GET /v2/ answered"
	if login {
		measured += " (it asks for a login)"
	}
	return result(id, check.Pass, measured, required, "The registry "+host+" answers.", "")
}

// fetchManifests asks for the manifest of every ref, a few at a time.
func fetchManifests(ctx context.Context, remote *images.Remote, refs []string) (map[string]images.Manifest, map[string]images.Failure) {
	manifests := map[string]images.Manifest{}
	failures := map[string]images.Failure{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, manifestConcurrency)
	for _, ref := range refs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			m, err := remote.Manifest(ctx, ref)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				manifests[ref] = m
				return
			}
			var re *images.RemoteError
			if errors.As(err, &re) {
				failures[ref] = re.Failure()
				return
			}
			failures[ref] = images.Failure{Image: ref, Kind: images.Other, Message: "Could not ask the registry for " + ref + ".", Detail: err.Error()}
		})
	}
	wg.Wait()
	return manifests, failures
}

func imagesResult(total, present int, manifests map[string]images.Manifest, failures map[string]images.Failure) check.Result {
	const required = "every image of the release, present or in its registry"
	found := len(manifests)
	measured := fmt.Sprintf("%d of %d images in the registry, %d present locally", found, total-present, present)
	if len(failures) == 0 {
		return result(IDImages, check.Pass, measured, required,
			fmt.Sprintf("Every image of the release is in its registry (%d) or present (%d).", found, present), "")
	}
	refs := slices.Sorted(func(yield func(string) bool) {
		for ref := range failures {
			if !yield(ref) {
				return
			}
		}
	})
	var parts, hints []string
	for _, ref := range refs {
		f := failures[ref]
		parts = append(parts, ref+" ("+string(f.Kind)+")")
		if !slices.Contains(hints, f.Hint) {
			hints = append(hints, f.Hint)
		}
	}
	status := check.Fail
	msg := "These images cannot be pulled: " + strings.Join(parts, ", ") + "."
	if len(refs) == 1 {
		msg = failures[refs[0]].Message
	}
	r := result(IDImages, status, measured+"; missing: "+strings.Join(parts, ", "), required, msg, strings.Join(hints, " "))
	// A registry that answers that it has no such tag cannot be argued
	// with: the install would fail on it. The other failures may be
	// carto-setup's view only (the daemon can have its own proxy or
	// login), so they take a reason.
	for _, f := range failures {
		r.Fixed = r.Fixed || f.Kind == images.NotFound
	}
	return r
}

func diskResult(root string, free func(string) (uint64, error), manifests map[string]images.Manifest, failures map[string]images.Failure) check.Result {
	// Layers shared between images are downloaded once.
	seen := map[string]bool{}
	var compressed int64
	for _, m := range manifests {
		for _, l := range m.Layers {
			if !seen[l.Digest] {
				seen[l.Digest] = true
				compressed += l.Size
			}
		}
		compressed += m.Config
	}
	need := uint64(compressed)*diskFactor + diskHeadroom
	required := fmt.Sprintf("%s free for %s of compressed layers (×%d while extracting, plus %s headroom)",
		gb(need), gb(uint64(compressed)), diskFactor, gb(diskHeadroom))
	if len(failures) > 0 {
		required += fmt.Sprintf("; the size of %d image(s) is unknown", len(failures))
	}
	avail, err := free(root)
	if err != nil {
		return result(IDImagesDisk, check.Error, "cannot measure "+root, required,
			"Could not measure the free space of Docker's data root.",
			"Check free space where Docker keeps its data (docker system df; df -h "+root+").")
	}
	measured := fmt.Sprintf("%s free on %s", gb(avail), root)
	switch {
	case avail < need:
		return result(IDImagesDisk, check.Fail, measured, required,
			"Docker's data root has not enough free space for the images to pull.",
			"Free space (docker image prune -a removes images no container uses) or grow the disk of "+root+".")
	case len(failures) > 0:
		return result(IDImagesDisk, check.Warn, measured, required,
			"There is room for the images whose size is known; the others could not be measured.", "Fix the images check first.")
	}
	return result(IDImagesDisk, check.Pass, measured, required, "Docker's data root has room for the images to pull.", "")
}

func gb(b uint64) string { return fmt.Sprintf("%.1f GB", float64(b)/1e9) }

// statFree is the space an ordinary user may still write on the
// filesystem holding path.
func statFree(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("registrycheck: statfs %s: %w", path, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}
