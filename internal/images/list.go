package images

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/carto-setup/carto-setup/internal/envfile"
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

// composeFile is the part of docker-compose.yml this package reads.
type composeFile struct {
	Services map[string]struct {
		Image string    `yaml:"image"`
		Scale yaml.Node `yaml:"scale"`
	} `yaml:"services"`
}

// List returns the images the compose file names, each once, in the order
// of their references, with ${VAR} references resolved from the generated
// .env the way Compose resolves them ($VAR, ${VAR}, ${VAR:-default}, ...).
// Compose also lets the shell's environment override .env; an install run
// by carto-setup does not set these variables, so List reads only .env. A
// service without an image (build only) is an error: a release never has
// one, and an install could not pull it.
func List(compose []byte, env *envfile.File) ([]Image, error) {
	var f composeFile
	if err := yaml.Unmarshal(compose, &f); err != nil {
		return nil, fmt.Errorf("images: read docker-compose.yml: %w", err)
	}
	if len(f.Services) == 0 {
		return nil, errors.New("images: docker-compose.yml names no service")
	}
	byRef := map[string]*Image{}
	zero := map[string]bool{} // ref -> every service so far is scaled to 0
	for name, svc := range f.Services {
		if strings.TrimSpace(svc.Image) == "" {
			return nil, fmt.Errorf("images: service %s has no image", name)
		}
		ref, err := interpolate(svc.Image, env)
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
		if svc.Scale.Kind == yaml.ScalarNode {
			s, err := interpolate(svc.Scale.Value, env)
			if err == nil {
				n, err := strconv.Atoi(strings.TrimSpace(s))
				scaledZero = err == nil && n == 0
			}
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

// ListRelease reads docker-compose.yml and the generated .env of the
// release directory dir and lists its images.
func ListRelease(dir string) ([]Image, error) {
	compose, err := os.ReadFile(filepath.Join(dir, "docker-compose.yml"))
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, ".env"))
	if err != nil {
		return nil, fmt.Errorf("images: %w (generate .env first)", err)
	}
	env, err := envfile.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("images: .env: %w", err)
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

// interpolateKey is the key of the statement interpolate appends to .env.
const interpolateKey = "CARTO_SETUP_IMAGES_INTERPOLATE_"

// interpolate resolves $VAR and ${VAR...} in a compose value against env
// with exactly the rules envfile applies inside double quotes (which are
// compose-go's): it appends the value as a double-quoted statement to the
// file and reads it back, so that no second interpolator exists. A value
// that a double-quoted string would change by itself (a quote, a
// backslash, a line break) is refused; image names and scales have none.
func interpolate(value string, env *envfile.File) (string, error) {
	if !strings.Contains(value, "$") {
		return value, nil
	}
	if strings.ContainsAny(value, "\"\\\n\r") {
		return "", fmt.Errorf("%q has a character an image name cannot have", value)
	}
	src := env.Bytes()
	if len(src) > 0 && src[len(src)-1] != '\n' {
		src = append(src, '\n')
	}
	src = append(src, interpolateKey+"=\""+value+"\"\n"...)
	f, err := envfile.Parse(src)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", value, err)
	}
	v, _ := f.Get(interpolateKey)
	return v, nil
}
