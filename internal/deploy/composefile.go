package deploy

import (
	"bufio"
	"bytes"
	"regexp"
	"strconv"
	"strings"

	"github.com/carto-setup/carto-setup/internal/envfile"
)

// composeService is a service of the release's docker-compose.yml as far as
// the install needs it: its name and the expression of its scale, if any.
type composeService struct {
	name  string
	scale string // e.g. "${LOCAL_POSTGRES_SCALE}"; "" when the service has none
}

var (
	serviceLineRE = regexp.MustCompile(`^(\s+)([A-Za-z0-9._-]+):\s*(#.*)?$`)
	scaleLineRE   = regexp.MustCompile(`^\s+scale:\s*(.*?)\s*(#.*)?$`)
	scaleVarRE    = regexp.MustCompile(`^["']?\$\{?([A-Za-z_][A-Za-z0-9_]*)(?::?-([0-9]+))?\}?["']?$`)
)

// parseComposeServices reads the service names and their scale expressions
// from a docker-compose.yml. CARTO's file is generated and regular (a
// top-level "services:" map with one indentation level per service), so a
// line scan is enough and spares a YAML dependency; a file it cannot read
// gives no services, and the caller then falls back to the containers that
// Compose created.
func parseComposeServices(data []byte) []composeService {
	var out []composeService
	in := false
	indent := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if line[0] != ' ' && line[0] != '\t' {
			in = strings.HasPrefix(line, "services:")
			indent = ""
			continue
		}
		if !in {
			continue
		}
		if m := serviceLineRE.FindStringSubmatch(line); m != nil && (indent == "" || m[1] == indent) {
			indent = m[1]
			out = append(out, composeService{name: m[2]})
			continue
		}
		if m := scaleLineRE.FindStringSubmatch(line); m != nil && len(out) > 0 {
			out[len(out)-1].scale = m[1]
		}
	}
	return out
}

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
