package upgrade

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// service is what the plan reads of one docker-compose.yml service, the
// raw strings before Compose interpolates them.
type service struct {
	name    string
	image   string   // e.g. ${WORKSPACE_API_DOCKER_IMAGE}
	ports   []string // published port specs, sorted
	volumes []string // named volumes mounted, sorted
	aliases []string // network aliases, sorted
}

// rawService is the YAML shape of a service; ports, volumes and networks
// each have a short and a long syntax in Compose.
type rawService struct {
	Image    string    `yaml:"image"`
	Ports    []any     `yaml:"ports"`
	Volumes  []any     `yaml:"volumes"`
	Networks yaml.Node `yaml:"networks"`
}

// namedVolumeRE is the source of a short volume spec that names a volume
// rather than a host path.
var namedVolumeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// parseCompose reads the services of a docker-compose.yml in file order.
func parseCompose(data []byte) ([]service, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse docker-compose.yml: %w", err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("parse docker-compose.yml: not a mapping")
	}
	top := doc.Content[0]
	var services *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "services" {
			services = top.Content[i+1]
		}
	}
	if services == nil || services.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("parse docker-compose.yml: no services")
	}
	var out []service
	for i := 0; i+1 < len(services.Content); i += 2 {
		name := services.Content[i].Value
		var raw rawService
		if err := services.Content[i+1].Decode(&raw); err != nil {
			return nil, fmt.Errorf("parse docker-compose.yml: service %s: %w", name, err)
		}
		s := service{name: name, image: raw.Image}
		for _, p := range raw.Ports {
			switch p := p.(type) {
			case string:
				s.ports = append(s.ports, p)
			case int:
				s.ports = append(s.ports, fmt.Sprint(p))
			case map[string]any:
				s.ports = append(s.ports, fmt.Sprintf("%v:%v", p["published"], p["target"]))
			}
		}
		for _, v := range raw.Volumes {
			switch v := v.(type) {
			case string:
				if src, _, ok := strings.Cut(v, ":"); ok && namedVolumeRE.MatchString(src) {
					s.volumes = append(s.volumes, src)
				}
			case map[string]any:
				if v["type"] == "volume" {
					if src, ok := v["source"].(string); ok && src != "" {
						s.volumes = append(s.volumes, src)
					}
				}
			}
		}
		s.aliases = aliases(&raw.Networks)
		slices.Sort(s.ports)
		slices.Sort(s.volumes)
		slices.Sort(s.aliases)
		out = append(out, s)
	}
	return out, nil
}

// aliases returns the network aliases of a service's networks: entry,
// which only the long (mapping) syntax can carry.
func aliases(networks *yaml.Node) []string {
	if networks.Kind != yaml.MappingNode {
		return nil
	}
	var out []string
	for i := 0; i+1 < len(networks.Content); i += 2 {
		var n struct {
			Aliases []string `yaml:"aliases"`
		}
		if networks.Content[i+1].Decode(&n) == nil {
			out = append(out, n.Aliases...)
		}
	}
	return out
}
