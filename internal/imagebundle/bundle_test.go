package imagebundle

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/images"
	"github.com/carto-setup/carto-setup/internal/registrytest"
)

// release is two images pulled from an in-process registry (so they carry
// registry digests, as on a connected machine), the second built on the
// first: they share its layers.
type release struct {
	eng        *engine.Client
	reg        *registrytest.Registry
	base, app  string // remote references
	baseLayers int
}

func newRelease(t *testing.T) release {
	t.Helper()
	eng := registrytest.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	reg := registrytest.Start(t, registrytest.Options{})
	name := registrytest.UniqueName("carto-setup-bundletest/")
	localBase, localApp := name+"-base:1", name+"-app:1"
	registrytest.BuildImage(t, eng, localBase, 300<<10, 200<<10)
	// Text-like, so that its entry shows the compression.
	data := bytes.Repeat([]byte("CARTO stand-in layer, compressible like code\n"), 12<<10)
	if err := eng.BuildImage(ctx, localApp, map[string]engine.BuildFile{"app": {Data: data}},
		"FROM "+localBase+"\nCOPY app /app\n", nil); err != nil {
		t.Fatal(err)
	}
	registrytest.RemoveAfter(t, eng, localApp)
	r := release{eng: eng, reg: reg, base: reg.Ref(name + "-base:1"), app: reg.Ref(name + "-app:1"), baseLayers: 2}
	for local, remote := range map[string]string{localBase: r.base, localApp: r.app} {
		if err := reg.Push(ctx, eng, local, remote); err != nil {
			t.Fatal(err)
		}
	}
	for _, local := range []string{localApp, localBase} {
		if err := eng.RemoveImage(ctx, local); err != nil {
			t.Fatal(err)
		}
	}
	registrytest.RemoveAfter(t, eng, r.base, r.app)
	if _, err := images.Pull(ctx, eng, []string{r.base, r.app}, images.Config{Remote: &images.Remote{Keychain: reg.Keychain()}}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r release) refs() []string { return []string{r.base, r.app} }

func (r release) remove(t *testing.T) {
	t.Helper()
	for _, ref := range []string{r.app, r.base} {
		if err := r.eng.RemoveImage(context.Background(), ref); err != nil {
			t.Fatal(err)
		}
	}
}

func save(t *testing.T, r release) (string, Summary) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "carto-images.bundle")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var progress []int64
	sum, err := Save(context.Background(), r.eng, r.refs(), f, SaveOptions{Release: "2026.8.11", TempDir: t.TempDir(),
		OnProgress: func(done, total int64) { progress = append(progress, done) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(progress) == 0 || progress[len(progress)-1] == 0 {
		t.Errorf("Save reported progress %v", progress)
	}
	return path, sum
}

// TestSaveLoadOffline saves two images pulled from a registry, stops the
// registry, removes the images and loads the bundle: both are back with
// the same IDs, and the pull phase then finds every image present.
func TestSaveLoadOffline(t *testing.T) {
	t.Parallel()
	r := newRelease(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ids := map[string]engine.ImageInfo{}
	for _, ref := range r.refs() {
		info, err := r.eng.InspectImage(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		ids[ref] = info
	}
	path, sum := save(t, r)

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	whole := sha256.Sum256(data)
	if sum.SHA256 != hex.EncodeToString(whole[:]) || sum.Size != int64(len(data)) {
		t.Errorf("Summary %s (%d bytes), the file is %x (%d bytes)", sum.SHA256, sum.Size, whole, len(data))
	}
	m := sum.Manifest
	if m.Format != Format || m.Release != "2026.8.11" || !slices.Equal(m.Refs(), []string{r.app, r.base}) {
		t.Fatalf("manifest %+v", m)
	}
	for _, im := range m.Images {
		info := ids[im.Ref]
		if im.ID != info.ID || im.Size != info.Size || im.Digest == "" || !slices.Contains(info.RepoDigests, im.Digest) {
			t.Errorf("manifest image %+v, engine %+v", im, info)
		}
	}
	// The engine's export stores each layer once (a layer reused under
	// another v1 id is a symbolic link); each image lists the links and
	// their targets.
	layers := map[string]File{}
	for _, f := range m.Files {
		if strings.HasSuffix(f.Name, "/layer.tar") {
			layers[f.Name] = f
		}
	}
	real := func(files []string) (n int) {
		for _, name := range files {
			if f, ok := layers[name]; ok && f.Link == "" {
				n++
			}
		}
		return n
	}
	if got := real(slices.Collect(func(yield func(string) bool) {
		for name := range layers {
			yield(name)
		}
	})); got != r.baseLayers+1 {
		t.Errorf("%d layers stored, want %d (shared ones once)", got, r.baseLayers+1)
	}
	if real(m.Images[0].Files) != r.baseLayers+1 || real(m.Images[1].Files) != r.baseLayers {
		t.Errorf("files: app %v, base %v", m.Images[0].Files, m.Images[1].Files)
	}
	compressed := false
	for _, f := range layers {
		if f.Gzip && f.Stored < f.Size/20 {
			compressed = true
		}
	}
	if !compressed {
		t.Errorf("the app's text layer is not stored compressed: %+v", layers)
	}
	if sum.Size > m.Size() {
		t.Errorf("the bundle (%d bytes) is larger than the images (%d): shared layers stored twice?", sum.Size, m.Size())
	}

	r.reg.Stop()
	r.remove(t)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var passes []string
	var lines []string
	loaded, err := Load(ctx, r.eng, f, LoadOptions{
		OnProgress: func(pass string, done, total int64) {
			if len(passes) == 0 || passes[len(passes)-1] != pass {
				passes = append(passes, pass)
			}
		},
		OnLine: func(l string) { lines = append(lines, l) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(passes, []string{"verify", "load"}) || len(loaded.Images) != 2 {
		t.Errorf("passes %v, loaded %d images", passes, len(loaded.Images))
	}
	for ref, info := range ids {
		got, err := r.eng.InspectImage(ctx, ref)
		if err != nil || got.ID != info.ID {
			t.Errorf("%s after the load: %+v, %v; want ID %s", ref, got, err, info.ID)
		}
	}
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, r.app) }) {
		t.Errorf("the engine's messages %q do not name %s", lines, r.app)
	}
	// The install's pull phase now needs no registry.
	final, err := images.Pull(ctx, r.eng, r.refs(), images.Config{Remote: &images.Remote{Keychain: r.reg.Keychain()}})
	if err != nil || final[0].Status != images.Present || final[1].Status != images.Present {
		t.Errorf("pull phase after the load: %+v, %v; want every image present", final, err)
	}
}

// entryOffset returns where the data of the bundle entry name starts.
func entryOffset(t *testing.T, data []byte, name string) int64 {
	t.Helper()
	cr := &countingReader{r: bytes.NewReader(data), every: 1 << 62}
	tr := tar.NewReader(cr)
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("no entry %s: %v", name, err)
		}
		if hdr.Name == name {
			return cr.n
		}
	}
}

// TestCorruptRefused damages one byte of a layer only the app image has,
// then one of a layer both share, and truncates the bundle: each is
// refused before anything is loaded, naming the images affected.
func TestCorruptRefused(t *testing.T) {
	t.Parallel()
	r := newRelease(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	path, sum := save(t, r)
	r.remove(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	app, base := sum.Manifest.Images[0], sum.Manifest.Images[1]
	var own string
	for _, f := range app.Files {
		if !slices.Contains(base.Files, f) && strings.HasSuffix(f, "layer.tar") {
			own = f
		}
	}
	shared := base.Files[len(base.Files)-1]
	tests := []struct {
		name       string
		damage     func([]byte) []byte
		wantImages []string
		wantReason string
	}{
		{"layer of one image", func(b []byte) []byte { b[entryOffset(t, b, dockerPrefix+own)+100] ^= 0xff; return b },
			[]string{r.app}, "do not match the manifest"},
		{"shared layer", func(b []byte) []byte { b[entryOffset(t, b, dockerPrefix+shared)+100] ^= 0xff; return b },
			[]string{r.app, r.base}, "do not match the manifest"},
		{"manifest", func(b []byte) []byte {
			i := int(entryOffset(t, b, manifestName))
			b[i+bytes.Index(b[i:], []byte(`"size"`))+10] ^= 0x01
			return b
		}, nil, "checksum"},
		{"cut short", func(b []byte) []byte { return b[:len(b)/2] }, nil, "ends early"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "bad.bundle")
			if err := os.WriteFile(bad, tt.damage(bytes.Clone(data)), 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(bad)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			_, err = Load(ctx, r.eng, f, LoadOptions{})
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("Load: %v, want a *CorruptError", err)
			}
			if !strings.Contains(ce.Reason, tt.wantReason) || !slices.Equal(ce.Images, tt.wantImages) {
				t.Errorf("refused: %v\nwant the reason to contain %q and the images %v", ce, tt.wantReason, tt.wantImages)
			}
			for _, ref := range r.refs() {
				if _, err := r.eng.InspectImage(ctx, ref); !errors.Is(err, engine.ErrImageNotFound) {
					t.Errorf("%s is on the engine after a refused load: %v", ref, err)
				}
			}
		})
	}

	// A bundle that changes between the verifying pass and the load is
	// caught while streaming, with the image named.
	t.Run("changed after verify", func(t *testing.T) {
		bad := bytes.Clone(data)
		bad[entryOffset(t, bad, dockerPrefix+own)+100] ^= 0xff
		err := rebuild(bytes.NewReader(bad), io.Discard, &sum.Manifest, nil)
		var ce *CorruptError
		if !errors.As(err, &ce) || !slices.Equal(ce.Images, []string{r.app}) {
			t.Fatalf("rebuild of a changed bundle: %v, want it refused naming %s", err, r.app)
		}
		if err := rebuild(bytes.NewReader(data), io.Discard, &sum.Manifest, nil); err != nil {
			t.Errorf("rebuild of the intact bundle: %v", err)
		}
	})
}

// TestSaveMissingImage names the image the engine does not have.
func TestSaveMissingImage(t *testing.T) {
	t.Parallel()
	eng := registrytest.Engine(t)
	ref := registrytest.UniqueName("carto-setup-bundletest/absent:")
	var buf bytes.Buffer
	_, err := Save(context.Background(), eng, []string{ref}, &buf, SaveOptions{})
	if err == nil || !strings.Contains(err.Error(), ref) || buf.Len() != 0 {
		t.Fatalf("Save of an absent image: %v, %d bytes written; want an error naming it and nothing written", err, buf.Len())
	}
}
