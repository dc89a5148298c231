package ociregistry

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Saver exports images from the Docker Engine in the docker save format;
// *engine.Client has it.
type Saver interface {
	SaveImages(ctx context.Context, refs []string) (io.ReadCloser, error)
}

// PushOptions tune Push. The zero value pushes anonymously, as is.
type PushOptions struct {
	// Auth is the login to push with; nil means anonymous.
	Auth authn.Authenticator
	// Pad appends a layer of that many random bytes (one file at the
	// image's root), so that the pushed image shares no layer with
	// anything the engine already has: its pull then downloads every
	// byte, even though the image was built on the same engine.
	Pad int64
	// TempDir holds the export while it is pushed; "" means the system's.
	TempDir string
}

// Push copies the local image localRef from the Docker Engine to a
// registry as remoteRef (a full name such as "127.0.0.1:5000/repo:tag"):
// the engine exports it into a temporary file, which go-containerregistry
// reads as an image and uploads. Only loopback registries are reached over
// plain HTTP.
func Push(ctx context.Context, eng Saver, localRef, remoteRef string, opts PushOptions) error {
	tag, err := name.NewTag(remoteRef, name.Insecure)
	if err != nil {
		return fmt.Errorf("ociregistry: push %s: %w", remoteRef, err)
	}
	tmp, err := os.CreateTemp(opts.TempDir, "carto-setup-push-*.tar")
	if err != nil {
		return fmt.Errorf("ociregistry: push %s: %w", remoteRef, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	rc, err := eng.SaveImages(ctx, []string{localRef})
	if err != nil {
		return fmt.Errorf("ociregistry: push %s: %w", remoteRef, err)
	}
	_, err = io.Copy(tmp, rc)
	rc.Close()
	if err != nil {
		return fmt.Errorf("ociregistry: push %s: save: %w", remoteRef, err)
	}
	var img v1.Image
	img, err = tarball.ImageFromPath(tmp.Name(), nil)
	if err != nil {
		return fmt.Errorf("ociregistry: push %s: read the saved image: %w", remoteRef, err)
	}
	if opts.Pad > 0 {
		if img, err = pad(img, opts.Pad); err != nil {
			return fmt.Errorf("ociregistry: push %s: %w", remoteRef, err)
		}
	}
	auth := opts.Auth
	if auth == nil {
		auth = authn.Anonymous
	}
	if err := remote.Write(tag, img, remote.WithAuth(auth), remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("ociregistry: push %s: %w", remoteRef, err)
	}
	return nil
}

// pad appends a layer of n random bytes to img.
func pad(img v1.Image, n int64) (v1.Image, error) {
	// One file of random bytes (random_file_<n>.txt at the root): they
	// do not compress, so the pull moves n bytes.
	layer, err := random.Layer(n, types.DockerLayer)
	if err != nil {
		return nil, fmt.Errorf("pad layer: %w", err)
	}
	out, err := mutate.AppendLayers(img, layer)
	if err != nil {
		return nil, fmt.Errorf("pad layer: %w", err)
	}
	return out, nil
}
