package images

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/carto-setup/carto-setup/internal/composefile"
	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/installsh"
)

// Image is one image the release needs, with the services that run it.
type Image struct {
	Ref      string   // as Compose will ask the engine for it, e.g. "gcr.io/carto-onprem-artifacts/maps-api:2026.8.11"
	Services []string // sorted
	// ScaledToZero is set when every service of the image has scale 0
	// (e.g. the embedded database with an external one). Compose 1.29
	// pulls such images all the same (measured), so they stay in the list.
	ScaledToZero bool
}

// List returns the images the compose file names, each once, in the order
// of their references, with ${VAR} references resolved from the generated
// .env the way Compose resolves them ($VAR, ${VAR}, ${VAR:-default}, ...;
// package composefile, which the install reads the file with too).
// Compose also lets the shell's environment override .env; an install run
// by carto-setup does not set these variables, so List reads only .env. A
// service without an image (build only) is an error: a release never has
// one, and an install could not pull it.
func List(compose []byte, env *envfile.File) ([]Image, error) {
	services, err := composefile.Parse(compose)
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	byRef := map[string]*Image{}
	zero := map[string]bool{} // ref -> every service so far is scaled to 0
	for _, svc := range services {
		name := svc.Name
		if strings.TrimSpace(svc.Image) == "" {
			return nil, fmt.Errorf("images: service %s has no image", name)
		}
		ref, err := composefile.Resolve(svc.Image, env)
		if err != nil {
			return nil, fmt.Errorf("images: image of service %s: %w", name, err)
		}
		if ref == "" {
			return nil, fmt.Errorf("images: image of service %s (%s) is empty once resolved from .env", name, svc.Image)
		}
		if err := validRef(ref); err != nil {
			return nil, fmt.Errorf("images: image of service %s: %w", name, err)
		}
		scaledZero := false
		if svc.Scale != "" {
			n, ok := composefile.ResolveScale(svc.Scale, env)
			scaledZero = ok && n == 0
		}
		im := byRef[ref]
		if im == nil {
			im = &Image{Ref: ref}
			byRef[ref] = im
			zero[ref] = true
		}
		im.Services = append(im.Services, name)
		zero[ref] = zero[ref] && scaledZero
	}
	out := make([]Image, 0, len(byRef))
	for ref, im := range byRef {
		slices.Sort(im.Services)
		im.ScaledToZero = zero[ref]
		out = append(out, *im)
	}
	slices.SortFunc(out, func(a, b Image) int { return strings.Compare(a.Ref, b.Ref) })
	return out, nil
}

// ListRelease lists the images of the release in dir as an install of it
// would pull them: resolved with the .env that install.sh's step B makes
// of its VERSION, env.tpl and customerEnv. A nil customerEnv reads dir's
// customer.env, or none when it is absent: the image names come from
// env.tpl, which .env lists after customer.env, so a customer.env rarely
// changes them. A .env already in dir is not read: it may be from an older
// release.
func ListRelease(dir string, customerEnv []byte) ([]Image, error) {
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("images: %w", err)
		}
		return b, nil
	}
	compose, err := read("docker-compose.yml")
	if err != nil {
		return nil, err
	}
	version, err := read("VERSION")
	if err != nil {
		return nil, err
	}
	tpl, err := read("env.tpl")
	if err != nil {
		return nil, err
	}
	if customerEnv == nil {
		customerEnv, err = os.ReadFile(filepath.Join(dir, "customer.env"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("images: %w", err)
		}
	}
	return ListPlanned(compose, customerEnv, version, tpl)
}

// ListPlanned lists the images of a release from its docker-compose.yml,
// resolved with the .env install.sh makes of customerEnv (which may be
// empty), VERSION and env.tpl.
func ListPlanned(compose, customerEnv, version, envTpl []byte) ([]Image, error) {
	env, err := envfile.Parse(installsh.DotEnv(customerEnv, version, envTpl))
	if err != nil {
		return nil, fmt.Errorf("images: the planned .env: %w", err)
	}
	return List(compose, env)
}

// Refs returns the references of images.
func Refs(images []Image) []string {
	refs := make([]string, len(images))
	for i, im := range images {
		refs[i] = im.Ref
	}
	return refs
}
