package images

import (
	"fmt"

	"github.com/distribution/reference"
)

// validRef checks ref with the grammar the Docker Engine applies.
func validRef(ref string) error {
	if _, err := reference.ParseNormalizedNamed(ref); err != nil {
		return fmt.Errorf("%q is not a valid image reference: %w", ref, err)
	}
	return nil
}

// Registry returns the registry host of an image reference as Docker reads
// it: "gcr.io" for "gcr.io/carto-onprem-artifacts/maps-api:1", "docker.io"
// for "postgres:13.2-alpine", "127.0.0.1:5000" for a local one.
func Registry(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ""
	}
	return reference.Domain(named)
}

// tagOf returns the tag of ref ("latest" when it has none) or its digest.
func tagOf(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ""
	}
	if d, ok := named.(reference.Digested); ok {
		return d.Digest().String()
	}
	if t, ok := reference.TagNameOnly(named).(reference.Tagged); ok {
		return t.Tag()
	}
	return ""
}

// repoOf returns the repository of ref without its registry, tag or digest.
func repoOf(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	return reference.Path(named)
}
