package registrytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// Push copies the local image localRef from the Docker Engine to the
// registry as remoteRef (a full name such as "127.0.0.1:5000/repo:tag"):
// the engine exports it (docker save format) into a temporary file, which
// go-containerregistry reads as an image and uploads. The registry's
// login, if any, is used.
func (r *Registry) Push(ctx context.Context, eng *engine.Client, localRef, remoteRef string) error {
	tag, err := name.NewTag(remoteRef, name.Insecure)
	if err != nil {
		return fmt.Errorf("registrytest: push %s: %w", remoteRef, err)
	}
	tmp, err := os.CreateTemp("", "registrytest-save-*.tar")
	if err != nil {
		return fmt.Errorf("registrytest: push %s: %w", remoteRef, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	rc, err := eng.SaveImages(ctx, []string{localRef})
	if err != nil {
		return fmt.Errorf("registrytest: push %s: %w", remoteRef, err)
	}
	_, err = io.Copy(tmp, rc)
	rc.Close()
	if err != nil {
		return fmt.Errorf("registrytest: push %s: save: %w", remoteRef, err)
	}
	img, err := tarball.ImageFromPath(tmp.Name(), nil)
	if err != nil {
		return fmt.Errorf("registrytest: push %s: read the saved image: %w", remoteRef, err)
	}
	auth := authn.Anonymous
	if r.opts.Username != "" {
		auth = &authn.Basic{Username: r.opts.Username, Password: r.opts.Password}
	}
	if err := remote.Write(tag, img, remote.WithAuth(auth), remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("registrytest: push %s: %w", remoteRef, err)
	}
	return nil
}

// PushAll pushes every local image of pairs (local reference -> remote
// reference).
func (r *Registry) PushAll(ctx context.Context, eng *engine.Client, pairs map[string]string) error {
	for local, remote := range pairs {
		if err := r.Push(ctx, eng, local, remote); err != nil {
			return err
		}
	}
	return nil
}

// UniqueName returns prefix followed by random hex, for image names and
// tags that no other test on the shared engine uses.
func UniqueName(prefix string) string {
	b := make([]byte, 5)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// BuildImage builds a FROM scratch image named ref on the engine with one
// layer of random (incompressible, so never shared) bytes per entry of
// layerSizes, in that order, and removes it when the test ends. Such an
// image cannot run; it is for moving around.
func BuildImage(t testing.TB, eng *engine.Client, ref string, layerSizes ...int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	files := map[string]engine.BuildFile{}
	dockerfile := "FROM scratch\n"
	for i, size := range layerSizes {
		data := make([]byte, size)
		rand.Read(data)
		name := fmt.Sprintf("layer%02d", i)
		files[name] = engine.BuildFile{Data: data}
		dockerfile += "COPY " + name + " /" + name + "\n"
	}
	dockerfile += "USER 1000:1000\n"
	if err := eng.BuildImage(ctx, ref, files, dockerfile, nil); err != nil {
		t.Fatalf("registrytest: build %s: %v", ref, err)
	}
	RemoveAfter(t, eng, ref)
}

// RemoveAfter removes the image refs from the engine when the test ends.
func RemoveAfter(t testing.TB, eng *engine.Client, refs ...string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, ref := range refs {
			if err := eng.RemoveImage(ctx, ref); err != nil {
				t.Errorf("registrytest: cleanup: %v", err)
			}
		}
	})
}

// Engine connects to the local Docker Engine, or reports it Missing
// (a skip locally, a failure under CI=true).
func Engine(t testing.TB) *engine.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	eng, err := engine.New(ctx)
	if err != nil {
		testenv.Missing(t, "Docker Engine", "install Docker Engine 20.10+ and start it: "+err.Error())
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}
