package registrycheck

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/images"
	"github.com/carto-setup/carto-setup/internal/installsh"
	"github.com/carto-setup/carto-setup/internal/registrytest"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// publish builds an image with the given layers, pushes it as remote and
// drops the local copy.
func publish(t *testing.T, eng *engine.Client, reg *registrytest.Registry, remote string, layers ...int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	local := registrytest.UniqueName("carto-setup-regchecktest/local:")
	registrytest.BuildImage(t, eng, local, layers...)
	if err := reg.Push(ctx, eng, local, remote); err != nil {
		t.Fatal(err)
	}
	if err := eng.RemoveImage(ctx, local); err != nil {
		t.Fatal(err)
	}
}

func byID(t *testing.T, results []check.Result) map[string]check.Result {
	t.Helper()
	m := map[string]check.Result{}
	for _, r := range results {
		if r.Step != Step {
			t.Errorf("%s has step %q", r.ID, r.Step)
		}
		m[r.ID] = r
	}
	return m
}

// tree lists every file of dir with its size and modification time.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, _ := d.Info()
		fmt.Fprintf(&b, "%s %d %s\n", p, fi.Size(), fi.ModTime())
		return nil
	})
	return b.String()
}

// TestMissingTag points the stand-in release at the registry, whose
// repository has the image under another tag only: the check fails naming
// the image, with manifest requests alone, and writes nothing.
func TestMissingTag(t *testing.T) {
	t.Parallel()
	eng := registrytest.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	reg := registrytest.Start(t, registrytest.Options{})
	version := registrytest.UniqueName("2026.8.11-c")
	base := reg.Host + "/carto-standin"
	publish(t, eng, reg, release.RemoteImageTags(base, "2026.8.10")[0], 1<<20)

	dir := filepath.Join(t.TempDir(), "carto-selfhosted")
	if err := release.Write(dir, version); err != nil {
		t.Fatal(err)
	}
	if err := release.UseRegistry(dir, base); err != nil {
		t.Fatal(err)
	}
	// The images come from the planned .env, which is not written yet.
	compose, _ := os.ReadFile(filepath.Join(dir, "docker-compose.yml"))
	list, err := images.List(compose, plannedEnv(t, dir, version))
	if err != nil {
		t.Fatal(err)
	}
	before := tree(t, dir)
	gets, manifests := reg.BlobGets(), reg.ManifestRequests()

	results := Run(ctx, Deps{Engine: eng, Remote: &images.Remote{Keychain: reg.Keychain()}}, images.Refs(list))
	got := byID(t, results)
	want := release.RemoteImageTags(base, version)[0]
	img := got[IDImages]
	if img.Status != check.Fail || !strings.Contains(img.Message, want) || !strings.Contains(img.Measured, want+" (not_found)") ||
		!strings.Contains(img.Hint, "disagree") {
		t.Errorf("images result %+v, want a failure naming %s as not found", img, want)
	}
	if !img.Fixed {
		t.Error("a tag the registry does not have can be overridden; the install would fail on it")
	}
	if r := got[IDRegistryPrefix+reg.Host]; r.Status != check.Pass {
		t.Errorf("registry result %+v, want pass: it answers", r)
	}
	if r := got[IDImagesDisk]; r.Status != check.Warn || !strings.Contains(r.Required, "size of 2 image(s) is unknown") {
		t.Errorf("disk result %+v, want a warning that a size is unknown", r)
	}
	if reg.BlobGets() != gets || reg.ManifestRequests() == manifests {
		t.Errorf("the check downloaded %d blobs and made %d manifest requests; want none and some",
			reg.BlobGets()-gets, reg.ManifestRequests()-manifests)
	}
	if after := tree(t, dir); after != before {
		t.Errorf("the check changed the release directory:\nbefore\n%s\nafter\n%s", before, after)
	}
	if _, err := eng.InspectImage(ctx, want); !errors.Is(err, engine.ErrImageNotFound) {
		t.Errorf("the check left an image behind: %v", err)
	}
}

// plannedEnv is the .env the install would generate, held in memory.
func plannedEnv(t *testing.T, dir, version string) *envfile.File {
	t.Helper()
	tpl, err := os.ReadFile(filepath.Join(dir, "env.tpl"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := envfile.Parse(installsh.DotEnv(release.SampleCustomerEnv("carto.example.com"), []byte(version+"\n"), tpl))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestSizesAndLogin checks a registry that requires a login: without the
// credentials the images are denied; with them the sizes add up to what
// the disk check requires.
func TestSizesAndLogin(t *testing.T) {
	t.Parallel()
	eng := registrytest.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	reg := registrytest.Start(t, registrytest.Options{Username: "carto", Password: "pw"})
	name := registrytest.UniqueName("carto-setup-regchecktest/img-")
	a, b := reg.Ref(name+"-a:1"), reg.Ref(name+"-b:1")
	publish(t, eng, reg, a, 1<<20, 512<<10)
	publish(t, eng, reg, b, 2<<20)

	anon := byID(t, Run(ctx, Deps{Engine: eng, Remote: &images.Remote{Keychain: authn.NewMultiKeychain()}}, []string{a, b}))
	if r := anon[IDRegistryPrefix+reg.Host]; r.Status != check.Pass || !strings.Contains(r.Measured, "asks for a login") {
		t.Errorf("registry result %+v, want pass noting the login", r)
	}
	if r := anon[IDImages]; r.Status != check.Fail || !strings.Contains(r.Measured, a+" (denied)") || !strings.Contains(r.Hint, "docker login "+reg.Host) {
		t.Errorf("images result without a login %+v, want both denied", r)
	} else if r.Fixed {
		t.Error("a denied image cannot be overridden; the daemon may hold a login carto-setup does not see")
	}

	var freeAsked string
	free := uint64(1e12)
	deps := Deps{Engine: eng, Remote: &images.Remote{Keychain: reg.Keychain()},
		FreeBytes: func(p string) (uint64, error) { freeAsked = p; return free, nil }}
	got := byID(t, Run(ctx, deps, []string{a, b, a}))
	if r := got[IDImages]; r.Status != check.Pass || r.Measured != "2 of 2 images in the registry, 0 present locally" {
		t.Errorf("images result %+v", r)
	}
	remote := &images.Remote{Keychain: reg.Keychain()}
	var compressed int64
	for _, ref := range []string{a, b} {
		m, err := remote.Manifest(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		compressed += m.Size()
	}
	if compressed < 3<<20 {
		t.Fatalf("manifests total %d bytes, less than the random layers", compressed)
	}
	need := uint64(compressed)*diskFactor + diskHeadroom
	disk := got[IDImagesDisk]
	if disk.Status != check.Pass || !strings.HasPrefix(disk.Required, gb(need)+" free for "+gb(uint64(compressed))) {
		t.Errorf("disk result %+v, want pass requiring %s", disk, gb(need))
	}
	info, _ := eng.Info(ctx)
	if freeAsked != info.DockerRootDir {
		t.Errorf("free space measured on %q, want Docker's data root %q", freeAsked, info.DockerRootDir)
	}
	free = need - 1
	if r := byID(t, Run(ctx, deps, []string{a, b}))[IDImagesDisk]; r.Status != check.Fail || !strings.Contains(r.Measured, gb(need-1)+" free on "+info.DockerRootDir) {
		t.Errorf("disk result with too little space %+v, want a failure measured vs required", r)
	}
}

// TestOffline: with every image present the registry is not asked (it
// does not even exist here) and its egress passes.
func TestOffline(t *testing.T) {
	t.Parallel()
	eng := registrytest.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	host := fmt.Sprintf("127.0.0.1:%d", testenv.ClosedPort(t))
	ref := host + "/" + registrytest.UniqueName("carto-setup-regchecktest/offline:")
	registrytest.BuildImage(t, eng, ref, 1024)
	got := byID(t, Run(ctx, Deps{Engine: eng, Remote: &images.Remote{Keychain: authn.NewMultiKeychain()}}, []string{ref}))
	if r := got[IDRegistryPrefix+host]; r.Status != check.Pass || !strings.HasPrefix(r.Message, "offline: every image present") {
		t.Errorf("registry result %+v, want the offline pass", r)
	}
	if got[IDImages].Status != check.Pass || got[IDImagesDisk].Status != check.Pass {
		t.Errorf("results %+v, want every check passed", got)
	}

	// One image missing: now the (closed) registry matters.
	missing := host + "/carto-setup-regchecktest/offline:absent"
	got = byID(t, Run(ctx, Deps{Engine: eng, Remote: &images.Remote{Keychain: authn.NewMultiKeychain()}}, []string{ref, missing}))
	if r := got[IDRegistryPrefix+host]; r.Status != check.Fail || !strings.Contains(r.Message, "does not answer") || !strings.Contains(r.Hint, "images save") {
		t.Errorf("registry result %+v, want unreachable with the offline bundle hint", r)
	}
	if r := got[IDImages]; r.Status != check.Fail || !strings.Contains(r.Measured, "1 present locally") {
		t.Errorf("images result %+v", r)
	}
}
