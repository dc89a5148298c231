package release

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
	"github.com/carto-setup/carto-setup/internal/envfile"
)

// DefaultRegistryBase is the DOCKER_REGISTRY_BASE_PATH of the embedded
// env.tpl: a name that no registry serves, so the image must be built
// locally.
const DefaultRegistryBase = "carto-standin"

// UseRegistry points a stand-in release written by Write at a registry:
// it sets DOCKER_REGISTRY_BASE_PATH in its env.tpl to base (for example
// "127.0.0.1:5000/carto-standin"), as a release published to that registry
// would carry, so that Compose and the pull phase ask the registry for
// RemoteImageTags(base, version).
func UseRegistry(dir, base string) error {
	base = strings.TrimSuffix(base, "/")
	if base == "" || strings.ContainsAny(base, " \t\n\"'$\\#") {
		return fmt.Errorf("release: use registry: %q is not a registry base path", base)
	}
	path := filepath.Join(dir, "env.tpl")
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("release: use registry: %w", err)
	}
	// A line edit, not envfile's Set: Set refuses an edit that changes
	// other keys, and changing the base path is meant to change every
	// *_DOCKER_IMAGE built from it.
	const key = "DOCKER_REGISTRY_BASE_PATH="
	lines := strings.SplitAfter(string(data), "\n")
	n := 0
	for i, l := range lines {
		if strings.HasPrefix(l, key) {
			lines[i] = key + base + "\n"
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("release: use registry: %s sets DOCKER_REGISTRY_BASE_PATH on %d lines, want 1", path, n)
	}
	out := []byte(strings.Join(lines, ""))
	if f, err := envfile.Parse(out); err != nil {
		return fmt.Errorf("release: use registry: env.tpl: %w", err)
	} else if v, _ := f.Get("DOCKER_REGISTRY_BASE_PATH"); v != base {
		return fmt.Errorf("release: use registry: env.tpl reads DOCKER_REGISTRY_BASE_PATH as %q after the edit, want %q", v, base)
	}
	if err := atomicfile.WriteFile(path, out, 0o644); err != nil {
		return fmt.Errorf("release: use registry: %w", err)
	}
	return nil
}

// RemoteImageTags are the names under base of every image ImageTags names
// (the router's and the others'), in the same order.
func RemoteImageTags(base, version string) []string {
	var out []string
	for _, tag := range ImageTags(version) {
		out = append(out, strings.TrimSuffix(base, "/")+"/"+strings.TrimPrefix(tag, DefaultRegistryBase+"/"))
	}
	return out
}

// PushFunc copies a local image to a registry under another name.
type PushFunc func(ctx context.Context, localRef, remoteRef string) error

// PushImages publishes the locally built stand-in images of version (see
// BuildImages) to the registry under base with push, so that a release
// pointed there by UseRegistry pulls them.
func PushImages(ctx context.Context, push PushFunc, base, version string) error {
	if !validVersion(version) {
		return fmt.Errorf("release: push images: version %q is not of the form YYYY.M.D[-suffix]", version)
	}
	remote := RemoteImageTags(base, version)
	for i, local := range ImageTags(version) {
		if err := push(ctx, local, remote[i]); err != nil {
			return fmt.Errorf("release: push images: %w", err)
		}
	}
	return nil
}
