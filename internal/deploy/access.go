package deploy

import (
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/fileaccess"
)

// appDir is the working directory of CARTO's Node services, against which
// releases up to 2026.1 gave relative paths such as ../certs/key.json
// (carto-facts §3.1).
const appDir = "/usr/src/app"

// fileReaders returns the services that read the file rel (relative to the
// release directory dir): of the services that mount it, those for which
// .env names the path where it appears in their container. Every service
// loads the same .env, so a path names the file only in the services that
// mount it there: ROUTER_SSL_CERTIFICATE_PATH=/etc/nginx/ssl/... is the
// router's, GOOGLE_APPLICATION_CREDENTIALS=/usr/src/certs/key.json the
// APIs'. A mounted file that .env never names is given to every service
// that mounts it, since nothing tells which of them reads it. A file no
// service mounts has no readers.
func fileReaders(services []composeService, env *envfile.File, dir, rel string) []string {
	abs := filepath.Join(dir, rel)
	var values []string
	for _, k := range env.Keys() {
		v, _ := env.Get(k)
		if v == "" {
			continue
		}
		values = append(values, v)
		if !strings.HasPrefix(v, "/") {
			values = append(values, path.Join(appDir, v))
		}
	}
	var mounting, naming []string
	for _, s := range services {
		for _, m := range s.bindMounts(dir, env) {
			cp, ok := m.containerPath(abs)
			if !ok {
				continue
			}
			if !slices.Contains(mounting, s.name) {
				mounting = append(mounting, s.name)
			}
			if slices.Contains(values, cp) && !slices.Contains(naming, s.name) {
				naming = append(naming, s.name)
			}
		}
	}
	if len(naming) > 0 {
		return naming
	}
	return mounting
}

// usersOf returns the users that the services run as, leaving out the
// services whose user is not known.
func usersOf(services []string, users map[string]fileaccess.User) []fileaccess.User {
	var out []fileaccess.User
	for _, s := range services {
		if u, ok := users[s]; ok && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

// grantFile gives the file rel of the release directory exactly readers'
// access (owner-only when there is none), through g (nil: the default
// Granter).
func grantFile(dir, rel string, readers []fileaccess.User, g *fileaccess.Granter) error {
	if g == nil {
		g = &fileaccess.Granter{}
	}
	_, err := g.Grant(filepath.Join(dir, rel), false, readers)
	return err
}
