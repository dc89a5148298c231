package registrytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/ociregistry"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// Push copies the local image localRef from the Docker Engine to the
// registry as remoteRef (a full name such as "127.0.0.1:5000/repo:tag"),
// with the registry's login if it has one (ociregistry.Push).
func (r *Registry) Push(ctx context.Context, eng *engine.Client, localRef, remoteRef string) error {
	return ociregistry.Push(ctx, eng, localRef, remoteRef, ociregistry.PushOptions{Auth: r.Auth()})
}

// PushPadded is Push with a layer of pad random bytes appended, so that
// pulling the image downloads at least that much even where the engine
// has every other layer (an image built on the same engine).
func (r *Registry) PushPadded(ctx context.Context, eng *engine.Client, localRef, remoteRef string, pad int64) error {
	return ociregistry.Push(ctx, eng, localRef, remoteRef, ociregistry.PushOptions{Auth: r.Auth(), Pad: pad})
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
