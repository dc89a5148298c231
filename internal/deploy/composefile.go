package deploy

import (
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

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
}

// parseComposeServices reads the services of a docker-compose.yml in file
// order. A file it cannot read gives no services, and the caller then
// falls back to the containers that Compose created.
func parseComposeServices(data []byte) []composeService {
	var doc struct {
		Services yaml.Node `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil || doc.Services.Kind != yaml.MappingNode {
		return nil
	}
	var out []composeService
	for i := 0; i+1 < len(doc.Services.Content); i += 2 {
		var svc struct {
			Image   string      `yaml:"image"`
			Scale   yaml.Node   `yaml:"scale"`
			Volumes []yaml.Node `yaml:"volumes"`
		}
		// A service that does not decode is still a service.
		_ = doc.Services.Content[i+1].Decode(&svc)
		s := composeService{name: doc.Services.Content[i].Value, image: svc.Image}
		if svc.Scale.Kind == yaml.ScalarNode {
			s.scale = svc.Scale.Value
		}
		for _, v := range svc.Volumes {
			switch v.Kind {
			case yaml.ScalarNode:
				s.volumes = append(s.volumes, v.Value)
			case yaml.MappingNode:
				// The long syntax: only bind mounts matter here.
				var long struct{ Type, Source, Target string }
				if v.Decode(&long) == nil && long.Type == "bind" {
					s.volumes = append(s.volumes, long.Source+":"+long.Target)
				}
			}
		}
		out = append(out, s)
	}
	return out
}

var (
	scaleVarRE = regexp.MustCompile(`^["']?\$\{?([A-Za-z_][A-Za-z0-9_]*)(?::?-([0-9]+))?\}?["']?$`)
	// interpRE is what Compose interpolates: $$, ${NAME}, ${NAME:-default},
	// ${NAME-default} and $NAME.
	interpRE = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)
)

// resolveScale evaluates a scale expression ("1", "${VAR}", "${VAR:-1}",
// "$VAR") against the generated .env. It reports false when the value is
// not a number, in which case the service is expected as if scaled to 1.
func resolveScale(expr string, env *envfile.File) (int, bool) {
	expr = strings.TrimSpace(expr)
	if n, err := strconv.Atoi(strings.Trim(expr, `"'`)); err == nil {
		return n, true
	}
	m := scaleVarRE.FindStringSubmatch(expr)
	if m == nil {
		return 0, false
	}
	v, ok := env.Get(m[1])
	if !ok || v == "" {
		v = m[2]
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, false
	}
	return n, true
}

// interpolate expands a compose value with the generated .env, as Compose
// does for the image names and volume paths of CARTO's file.
func interpolate(s string, env *envfile.File) string {
	return interpRE.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		sm := interpRE.FindStringSubmatch(m)
		name := sm[1] + sm[4]
		v, ok := env.Get(name)
		switch sm[2] {
		case ":-":
			if v == "" {
				return sm[3]
			}
		case "-":
			if !ok {
				return sm[3]
			}
		}
		return v
	})
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
