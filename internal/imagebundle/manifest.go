package imagebundle

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Format names the bundle layout; Verify refuses any other.
const Format = "carto-setup-images/1"

// Entry names inside the bundle.
const (
	prefix       = "carto-setup-images/"
	dockerPrefix = prefix + "docker/"
	manifestName = prefix + "manifest.json"
	checksumName = prefix + "manifest.json.sha256"
)

// Manifest describes a bundle.
type Manifest struct {
	Format  string    `json:"format"`
	Created time.Time `json:"created"`
	Release string    `json:"release,omitempty"`
	Images  []Image   `json:"images"`
	Files   []File    `json:"files"`
}

// Image is one image in the bundle.
type Image struct {
	Ref string `json:"image"`
	// ID is the image's config digest: the engine gives the loaded image
	// the same one.
	ID string `json:"id"`
	// Digest is the registry manifest the image was pulled as, when it
	// came from a registry ("repo@sha256:...").
	Digest string `json:"digest,omitempty"`
	// Size is the image's uncompressed size on the engine.
	Size int64 `json:"size"`
	// Files are the docker save entries the image needs.
	Files []string `json:"files"`
}

// File is one entry of the docker save stream as the bundle stores it.
type File struct {
	Name   string `json:"name"`           // as in the docker save stream
	Link   string `json:"link,omitempty"` // a symbolic link's target; no content
	Size   int64  `json:"size"`           // original bytes
	Stored int64  `json:"stored"`         // bytes in the bundle
	Gzip   bool   `json:"gzip,omitempty"` // stored gzip-compressed
	SHA256 string `json:"sha256,omitempty"`
	Mode   int64  `json:"mode"`
}

// Size is the bytes of the bundle's images once loaded.
func (m *Manifest) Size() int64 {
	var n int64
	for _, im := range m.Images {
		n += im.Size
	}
	return n
}

// Refs returns the image references of the bundle.
func (m *Manifest) Refs() []string {
	refs := make([]string, len(m.Images))
	for i, im := range m.Images {
		refs[i] = im.Ref
	}
	return refs
}

// imagesUsing returns the images that need any of the files names, or
// every image when names is empty (nothing can be told apart).
func (m *Manifest) imagesUsing(names []string) []string {
	var out []string
	for _, im := range m.Images {
		if len(names) == 0 || slices.ContainsFunc(im.Files, func(f string) bool { return slices.Contains(names, f) }) {
			out = append(out, im.Ref)
		}
	}
	return out
}

// CorruptError is a bundle that does not match its manifest (or has none):
// it is refused, naming the images whose data is damaged when that can be
// told.
type CorruptError struct {
	Reason string
	Images []string // affected images; empty when unknown
	Files  []string // damaged docker save entries
}

func (e *CorruptError) Error() string {
	s := "imagebundle: the bundle is damaged: " + e.Reason
	if len(e.Images) > 0 {
		s += "; affected images: " + strings.Join(e.Images, ", ")
	}
	return s
}

func corrupt(format string, args ...any) *CorruptError {
	return &CorruptError{Reason: fmt.Sprintf(format, args...)}
}
