package composefile

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/carto-setup/carto-setup/internal/envfile"
)

// Service is one service of docker-compose.yml, its values as written
// (before interpolation).
type Service struct {
	Name  string
	Image string // e.g. "${ROUTER_HTTP_DOCKER_IMAGE}"; "" when it has none
	Scale string // e.g. "${LOCAL_POSTGRES_SCALE}"; "" when it sets none
	// Volumes are the short-syntax volumes (source:target[:mode]) and the
	// long-syntax bind mounts written as source:target; long-syntax named
	// volumes are left out.
	Volumes []string
	// Ports are the short-syntax published ports as written
	// ([ip:]host:container[/proto], or a container port alone, which
	// publishes none on a fixed host port).
	Ports []string
}

// Parse reads the services of a docker-compose.yml in file order. A
// service whose entry does not decode keeps its name with empty values:
// it is still a service Compose starts. A file that is not YAML, or that
// has no services mapping, is an error.
func Parse(data []byte) ([]Service, error) {
	var doc struct {
		Services yaml.Node `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("composefile: read docker-compose.yml: %w", err)
	}
	if doc.Services.Kind != yaml.MappingNode || len(doc.Services.Content) == 0 {
		return nil, errors.New("composefile: docker-compose.yml names no service")
	}
	var out []Service
	for i := 0; i+1 < len(doc.Services.Content); i += 2 {
		var svc struct {
			Image   string      `yaml:"image"`
			Scale   yaml.Node   `yaml:"scale"`
			Volumes []yaml.Node `yaml:"volumes"`
			Ports   []yaml.Node `yaml:"ports"`
		}
		_ = doc.Services.Content[i+1].Decode(&svc)
		s := Service{Name: doc.Services.Content[i].Value, Image: svc.Image}
		if svc.Scale.Kind == yaml.ScalarNode {
			s.Scale = svc.Scale.Value
		}
		for _, v := range svc.Volumes {
			switch v.Kind {
			case yaml.ScalarNode:
				s.Volumes = append(s.Volumes, v.Value)
			case yaml.MappingNode:
				// The long syntax: only bind mounts are files of the host.
				var long struct{ Type, Source, Target string }
				if v.Decode(&long) == nil && long.Type == "bind" {
					s.Volumes = append(s.Volumes, long.Source+":"+long.Target)
				}
			}
		}
		for _, p := range svc.Ports {
			if p.Kind == yaml.ScalarNode {
				s.Ports = append(s.Ports, p.Value)
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// Resolve interpolates a value of the compose file with the generated .env,
// as Compose does ($$, $NAME, ${NAME} and the :-, -, :+, +, :? and ?
// forms). Compose would also read the shell's environment; an install run
// by carto-setup sets none of these variables, so only .env counts.
func Resolve(value string, env *envfile.File) (string, error) {
	if !strings.Contains(value, "$") {
		return value, nil
	}
	out, err := env.Expand(value)
	if err != nil {
		return "", fmt.Errorf("composefile: resolve %s: %w", value, err)
	}
	return out, nil
}

// ResolveScale evaluates a scale value ("1", "${VAR}", "${VAR:-1}",
// "$VAR", optionally quoted) against .env. It reports false when the value
// is not a whole number, in which case Compose runs the service as if
// scaled to 1.
func ResolveScale(expr string, env *envfile.File) (int, bool) {
	v, err := Resolve(strings.Trim(strings.TrimSpace(expr), `"'`), env)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, false
	}
	return n, true
}

// HostPort returns the host port a short-syntax port entry publishes, after
// interpolation ("80:8080", "127.0.0.1:80:8080", "5447:5447/tcp"); ok is
// false for an entry that publishes no fixed host port (a container port
// alone, or a range).
func HostPort(entry string) (int, bool) {
	entry, _, _ = strings.Cut(entry, "/")
	parts := strings.Split(entry, ":")
	if len(parts) < 2 {
		return 0, false
	}
	n, err := strconv.Atoi(parts[len(parts)-2])
	if err != nil || n < 1 || n > 65535 {
		return 0, false
	}
	return n, true
}
