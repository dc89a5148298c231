package preflight

import (
	"path/filepath"
	"strings"

	"github.com/carto-setup/carto-setup/internal/check"
)

// ReleaseFiles are the files of a carto-selfhosted checkout that the wizard
// reads or runs.
func ReleaseFiles() []string {
	return []string{"docker-compose.yml", "env.tpl", "VERSION", "MIN_VERSION", "install.sh"}
}

func checkReleaseFiles(deps Deps, cfg Config) check.Result {
	const id = "preflight.release_files"
	required := strings.Join(ReleaseFiles(), ", ")
	var missing []string
	for _, name := range ReleaseFiles() {
		fi, err := deps.Stat(filepath.Join(cfg.ReleaseDir, name))
		if err != nil || !fi.Mode().IsRegular() {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		r := result(id, check.Fail, "missing in "+cfg.ReleaseDir+": "+strings.Join(missing, ", "), required,
			cfg.ReleaseDir+" is not a complete carto-selfhosted checkout.",
			"Start carto-setup in a checkout of github.com/CartoDB/carto-selfhosted at a release tag (git checkout tags/<version>), or pass --dir with its path.")
		r.Fixed = true
		return r
	}
	return result(id, check.Pass, "all present in "+cfg.ReleaseDir, required, "The release files are present.", "")
}
