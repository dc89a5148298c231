package imagebundle

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/carto-setup/carto-setup/internal/registrytest"
)

// failingReader yields data then fails, as a dropped connection does.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// TestUploadResumes sends a real bundle in pieces with a dropped
// connection and a restart in between, as the wizard's Images panel does.
func TestUploadResumes(t *testing.T) {
	t.Parallel()
	eng := registrytest.Engine(t)
	ref := registrytest.UniqueName("carto-setup-bundletest/upload:")
	registrytest.BuildImage(t, eng, ref, 200<<10)
	var buf bytes.Buffer
	sum, err := Save(context.Background(), eng, []string{ref}, &buf, SaveOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	bundle := buf.Bytes()
	total := int64(len(bundle))
	dst := filepath.Join(t.TempDir(), "upload.bundle")

	u, err := OpenUpload(dst, total)
	if err != nil {
		t.Fatal(err)
	}
	third := total / 3
	reset := errors.New("connection reset by peer")
	var seen []int64
	off, err := u.Append(0, &failingReader{data: bundle[:third], err: reset}, func(n int64) { seen = append(seen, n) })
	if !errors.Is(err, reset) || off != third || len(seen) == 0 || seen[len(seen)-1] != third {
		t.Fatalf("Append over a dropped connection: offset %d, %v, progress %v; want %d kept", off, err, seen, third)
	}
	u.Close() // the wizard restarts

	if _, err := OpenUpload(dst, total+1); !errors.Is(err, ErrOtherUpload) {
		t.Errorf("OpenUpload with another size: %v, want ErrOtherUpload", err)
	}
	u, err = OpenUpload(dst, total)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if u.Offset() != third {
		t.Fatalf("resumed at %d, want %d", u.Offset(), third)
	}
	var oe *OffsetError
	if _, err := u.Append(0, bytes.NewReader(bundle), nil); !errors.As(err, &oe) || oe.Have != third {
		t.Fatalf("Append at a stale offset: %v, want an OffsetError at %d", err, third)
	}
	if _, err := u.Complete(nil); err == nil {
		t.Fatal("Complete of a partial upload succeeded")
	}
	if off, err := u.Append(third, bytes.NewReader(bundle[third:2*third]), nil); err != nil || off != 2*third {
		t.Fatalf("Append: %d, %v", off, err)
	}
	// More than declared is cut at the declared size.
	tooMuch := append(bytes.Clone(bundle[2*third:]), "extra"...)
	if off, err := u.Append(2*third, bytes.NewReader(tooMuch), nil); err == nil || off != total {
		t.Fatalf("Append beyond the size: %d, %v; want an error at %d", off, err, total)
	}
	m, err := u.Complete(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Refs(), []string{ref}) || m.Images[0].ID != sum.Manifest.Images[0].ID {
		t.Errorf("completed manifest %+v", m)
	}
	got, err := os.ReadFile(dst)
	if err != nil || !bytes.Equal(got, bundle) {
		t.Fatalf("the completed file differs from the bundle (%v)", err)
	}
	for _, leftover := range []string{dst + ".part", dst + ".part.json"} {
		if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is left: %v", leftover, err)
		}
	}

	t.Run("damaged upload", func(t *testing.T) {
		bad := bytes.Clone(bundle)
		bad[entryOffset(t, bad, dockerPrefix+sum.Manifest.Images[0].Files[1])+10] ^= 0xff
		path := filepath.Join(t.TempDir(), "bad.bundle")
		u, err := OpenUpload(path, total)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := u.Append(0, bytes.NewReader(bad), nil); err != nil {
			t.Fatal(err)
		}
		_, err = u.Complete(nil)
		var ce *CorruptError
		if !errors.As(err, &ce) || !slices.Equal(ce.Images, []string{ref}) {
			t.Fatalf("Complete of a damaged bundle: %v, want it refused naming %s", err, ref)
		}
		if _, err := os.Stat(path + ".part"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the damaged upload is kept: %v", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the damaged upload became the bundle: %v", err)
		}
	})
}
