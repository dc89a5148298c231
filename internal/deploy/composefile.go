package deploy

import (
	"path"
	"path/filepath"
	"strings"

	"github.com/carto-setup/carto-setup/internal/composefile"
	"github.com/carto-setup/carto-setup/internal/envfile"
)

// composeService is a service of the release's docker-compose.yml as far as
// the install needs it: its name, the expression of its scale (if any), of
// its image, and its volumes as written (source:target[:mode]).
type composeService struct {
	name    string
	scale   string // e.g. "${LOCAL_POSTGRES_SCALE}"; "" when the service has none
	image   string // e.g. "${ROUTER_HTTP_DOCKER_IMAGE}"
	volumes []string
	ports   []string
}

// parseComposeServices reads the services of a docker-compose.yml in file
// order (package composefile, which the pull phase reads it with too). A
// file it cannot read gives no services, and the caller then falls back to
// the containers that Compose created.
func parseComposeServices(data []byte) []composeService {
	parsed, err := composefile.Parse(data)
	if err != nil {
		return nil
	}
	out := make([]composeService, len(parsed))
	for i, s := range parsed {
		out[i] = composeService{name: s.Name, scale: s.Scale, image: s.Image, volumes: s.Volumes, ports: s.Ports}
	}
	return out
}

// resolveScale evaluates a scale expression ("1", "${VAR}", "${VAR:-1}",
// "$VAR") against the generated .env. It reports false when the value is
// not a number, in which case the service is expected as if scaled to 1.
func resolveScale(expr string, env *envfile.File) (int, bool) {
	return composefile.ResolveScale(expr, env)
}

// interpolate expands a compose value with the generated .env, as Compose
// does for the image names and volume paths of CARTO's file. A value
// Compose itself would refuse (an unterminated ${) is kept as written: it
// then names no image and no file of the release.
func interpolate(s string, env *envfile.File) string {
	out, err := composefile.Resolve(s, env)
	if err != nil {
		return s
	}
	return out
}

// bindMount is a host directory or file mounted into a service.
type bindMount struct {
	source string // absolute host path
	target string // path inside the container
}

// bindMounts returns the bind mounts of a service, their host paths
// resolved against the release directory; named volumes are left out.
func (s composeService) bindMounts(dir string, env *envfile.File) []bindMount {
	var out []bindMount
	for _, v := range s.volumes {
		parts := strings.Split(interpolate(v, env), ":")
		if len(parts) < 2 {
			continue
		}
		src, dst := parts[0], parts[1]
		if !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "/") {
			continue // a named volume
		}
		if !filepath.IsAbs(src) {
			src = filepath.Join(dir, src)
		}
		out = append(out, bindMount{source: filepath.Clean(src), target: path.Clean(dst)})
	}
	return out
}

// containerPath returns where the host file abs appears inside the
// container through m, if it does.
func (m bindMount) containerPath(abs string) (string, bool) {
	if abs == m.source {
		return m.target, true
	}
	rel, ok := strings.CutPrefix(abs, m.source+string(filepath.Separator))
	if !ok {
		return "", false
	}
	return path.Join(m.target, filepath.ToSlash(rel)), true
}
