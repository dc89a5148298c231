package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/config"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/images"
	"github.com/carto-setup/carto-setup/internal/ociregistry"
	"github.com/carto-setup/carto-setup/internal/registrycheck"
	"github.com/carto-setup/carto-setup/internal/steps"
)

// imagesConfig is the install's pull phase for cfg: Docker's credentials,
// carto-setup's own proxy settings from getenv, and, for the stand-in
// release, its local build when the release names its images locally.
func imagesConfig(cfg config.Config, getenv func(string) string) *steps.ImagesConfig {
	c := &steps.ImagesConfig{Remote: &images.Remote{Getenv: getenv}, Stall: cfg.PullStall}
	if cfg.StandinBinary != "" {
		c.Prepare = standinPrepare(cfg.StandinBinary)
	}
	return c
}

// registryChecker is preflight's registry group (registrycheck.Run) on the
// local Docker Engine. With a stand-in binary, a release that names the
// stand-in's local images needs no registry: the install builds them.
func registryChecker(getenv func(string) string, standinBinary string) steps.RegistryChecker {
	return steps.RegistryFunc(func(ctx context.Context, refs []string) []check.Result {
		if standinBinary != "" && len(refs) > 0 && !slices.ContainsFunc(refs, func(r string) bool { return !localStandin(r) }) {
			r := check.Result{Step: registrycheck.Step, ID: registrycheck.IDImages, Status: check.Pass,
				Measured: fmt.Sprintf("%d stand-in images, built locally", len(refs)), Required: "every image of the release, present or in its registry",
				Message: "The stand-in release's images are built locally from " + standinBinary + "; no registry is needed."}
			if _, err := os.Stat(standinBinary); err != nil {
				r.Status, r.Measured = check.Fail, "--standin-binary unreadable"
				r.Message, r.Hint = "The stand-in's images cannot be built: "+err.Error()+".", "Give --standin-binary a static carto-setup executable (CGO_ENABLED=0)."
			}
			return []check.Result{r}
		}
		eng, err := engine.New(ctx)
		if err != nil {
			return []check.Result{{Step: registrycheck.Step, ID: registrycheck.IDImages, Status: check.Error,
				Measured: "Docker Engine not reachable", Required: "every image of the release, present or in its registry",
				Message: "Could not ask Docker which images it has.", Hint: "Fix the Docker check first."}}
		}
		defer eng.Close()
		return registrycheck.Run(ctx, registrycheck.Deps{Engine: eng, Remote: &images.Remote{Getenv: getenv}}, refs)
	})
}

// localStandin reports whether ref names a stand-in image built locally
// (carto-standin/standin:V or carto-standin/router-http:V, no registry).
func localStandin(ref string) bool {
	repo, _, _ := strings.Cut(ref, ":")
	return repo == release.ImageRepository || repo == release.RouterImageRepository
}

// standinPrepare builds the stand-in release's images from a static
// carto-setup executable, when the release names them locally (no
// registry) and the engine lacks them; a release pointed at a registry
// (UseRegistry, --demo) is left to the pull.
func standinPrepare(binary string) func(ctx context.Context, plan deploy.Plan, refs []string, progress io.Writer) error {
	return func(ctx context.Context, plan deploy.Plan, refs []string, progress io.Writer) error {
		local := release.ImageTags(plan.Version())
		if !slices.ContainsFunc(refs, localStandin) {
			return nil
		}
		eng, err := engine.New(ctx)
		if err != nil {
			return err
		}
		defer eng.Close()
		fmt.Fprintf(progress, "Making sure of the stand-in images %s (built locally, no registry).\n", strings.Join(local, ", "))
		built, err := release.EnsureImages(ctx, eng, binary, plan.Version(), progress)
		if err != nil {
			return &deploy.Error{Step: "images", Message: "Could not build the stand-in image " + release.ImageTag(plan.Version()) + ".",
				Hint: "Check that Docker is running; the stand-in needs a static carto-setup executable (CGO_ENABLED=0).", Err: err}
		}
		if built {
			fmt.Fprintf(progress, "Built the stand-in images.\n")
		}
		return nil
	}
}

// demoRegistryRate paces the demo registry's downloads like a fast link,
// so that a demo install's pull can be watched on the board.
const demoRegistryRate = 8 << 20

// demoRegistry is the in-process registry of --demo, filled with the
// stand-in images in the background so that the wizard starts at once.
type demoRegistry struct {
	srv    *ociregistry.Server
	ready  chan struct{}
	err    error // set before ready is closed
	cancel context.CancelFunc
}

// wait blocks until the registry holds the stand-in images, or says why
// it never will.
func (d *demoRegistry) wait(ctx context.Context) error {
	select {
	case <-d.ready:
		return d.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops the filling, then the registry.
func (d *demoRegistry) close() {
	d.cancel()
	<-d.ready
	d.srv.Close()
}

// startDemoRegistry serves the stand-in images of the demo release in dir
// from an in-process registry on loopback and points the release at it,
// so that a demo install pulls them for real. It returns once the registry
// listens; the images are built from binary (when the engine lacks them)
// and pushed in the background, and wait says when that is done. The
// registry keeps the port of the previous start when it is free, so
// images pulled then still count as present; its blobs live under
// stateDir. When it cannot start, the release is pointed back at local
// images, which the install then builds.
func startDemoRegistry(ctx context.Context, dir, stateDir, binary string, out io.Writer) (d *demoRegistry, err error) {
	defer func() {
		if err != nil {
			if rerr := release.UseRegistry(dir, release.DefaultRegistryBase); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
	}()
	version, err := os.ReadFile(filepath.Join(dir, "VERSION"))
	if err != nil {
		return nil, fmt.Errorf("demo registry: %w", err)
	}
	v := strings.TrimSpace(string(version))
	eng, err := engine.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("demo registry: %w", err)
	}
	blobs := filepath.Join(stateDir, "demo-registry")
	if err := os.MkdirAll(blobs, 0o700); err != nil {
		eng.Close()
		return nil, fmt.Errorf("demo registry: %w", err)
	}
	portFile := filepath.Join(stateDir, "demo-registry.port")
	addr := "127.0.0.1:0"
	if b, err := os.ReadFile(portFile); err == nil {
		if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && p > 0 && p < 65536 {
			addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		}
	}
	opts := ociregistry.Options{Rate: demoRegistryRate, BlobDir: blobs}
	srv, err := ociregistry.Listen(addr, opts)
	if err != nil && addr != "127.0.0.1:0" {
		srv, err = ociregistry.Listen("127.0.0.1:0", opts) // the old port is taken
	}
	if err != nil {
		eng.Close()
		return nil, fmt.Errorf("demo registry: %w", err)
	}
	_, port, _ := net.SplitHostPort(srv.Host)
	base := srv.Host + "/" + release.DefaultRegistryBase
	err = atomicfile.WriteFile(portFile, []byte(port+"\n"), 0o600)
	if err == nil {
		err = release.UseRegistry(dir, base)
	}
	if err != nil {
		srv.Close()
		eng.Close()
		return nil, fmt.Errorf("demo registry: %w", err)
	}
	fmt.Fprintf(out, "Demo mode: the stand-in images are served by an in-process registry at %s (an install pulls them from it)\n", srv.Host)
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d = &demoRegistry{srv: srv, ready: make(chan struct{}), cancel: cancel}
	go func() {
		ctx := fctx
		defer close(d.ready)
		defer eng.Close()
		fill := func() error {
			if _, err := release.EnsureImages(ctx, eng, binary, v, io.Discard); err != nil {
				return err
			}
			push := func(ctx context.Context, local, remote string) error {
				return ociregistry.Push(ctx, eng, local, remote, ociregistry.PushOptions{TempDir: stateDir})
			}
			return release.PushImages(ctx, push, base, v)
		}
		if d.err = fill(); d.err != nil {
			d.err = fmt.Errorf("demo registry: the stand-in images could not be published: %w", d.err)
			fmt.Fprintf(out, "Demo mode: %v\n", d.err)
			return
		}
		fmt.Fprintf(out, "Demo mode: the stand-in images are ready in the registry at %s\n", srv.Host)
	}()
	return d, nil
}

// waitPrepare runs before prepare: the demo install waits until its
// registry holds the images.
func (d *demoRegistry) waitPrepare(prepare func(ctx context.Context, plan deploy.Plan, refs []string, progress io.Writer) error) func(ctx context.Context, plan deploy.Plan, refs []string, progress io.Writer) error {
	return func(ctx context.Context, plan deploy.Plan, refs []string, progress io.Writer) error {
		select {
		case <-d.ready:
		default:
			fmt.Fprintf(progress, "Waiting for the demo registry to hold the stand-in images.\n")
		}
		if err := d.wait(ctx); err != nil {
			return &deploy.Error{Step: "images", Message: "The demo registry has no stand-in images: " + err.Error() + ".",
				Hint: "Check that Docker is running, then start carto-setup --demo again.", Err: err}
		}
		if prepare != nil {
			return prepare(ctx, plan, refs, progress)
		}
		return nil
	}
}

// waitCheck runs the registry checks once the demo registry holds the
// images, so that preflight does not find them missing while they are
// being pushed.
func (d *demoRegistry) waitCheck(c steps.RegistryChecker) steps.RegistryChecker {
	return steps.RegistryFunc(func(ctx context.Context, refs []string) []check.Result {
		if err := d.wait(ctx); err != nil {
			return []check.Result{{Step: registrycheck.Step, ID: registrycheck.IDImages, Status: check.Error,
				Measured: "the demo registry is empty", Required: "every image of the release, present or in its registry",
				Message: "The demo registry has no stand-in images: " + err.Error() + ".", Hint: "Check that Docker is running, then start carto-setup --demo again."}}
		}
		return c.Check(ctx, refs)
	})
}
