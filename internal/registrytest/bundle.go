package registrytest

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

// DamageBundle returns a copy of an offline image bundle (imagebundle) with
// one byte flipped in the middle of the stored data of its largest entry:
// a layer, so the damage belongs to an image, as a bad copy's would.
func DamageBundle(t testing.TB, bundle []byte) []byte {
	t.Helper()
	r := bytes.NewReader(bundle)
	tr := tar.NewReader(r)
	var at, size int64 = -1, 0
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("registrytest: damage bundle: %v", err)
		}
		if strings.Contains(hdr.Name, "/docker/") && hdr.Typeflag == tar.TypeReg && hdr.Size > size {
			// The entry's data starts where the reader stands now.
			at, size = int64(len(bundle))-int64(r.Len()), hdr.Size
		}
	}
	if at < 0 {
		t.Fatal("registrytest: damage bundle: no image data in it")
	}
	out := slices.Clone(bundle)
	out[at+size/2] ^= 0xff
	return out
}
