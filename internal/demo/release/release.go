package release

import (
	"bytes"
	"context"
	"debug/elf"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
	"github.com/carto-setup/carto-setup/internal/engine"
)

//go:embed files
var files embed.FS

// ImageRepository is the image every stand-in service but the router
// runs; env.tpl builds it as ${DOCKER_REGISTRY_BASE_PATH}/standin.
// RouterImageRepository is router-http's
// (${DOCKER_REGISTRY_BASE_PATH}/router-http). The two differ only in their
// user, as CARTO's images carry theirs.
const (
	ImageRepository       = "carto-standin/standin"
	RouterImageRepository = "carto-standin/router-http"
)

// The users the stand-in images run as, the uids CARTO's Helm chart runs
// the same images as: 101 for the router (nginx), 1000 for the APIs and
// every other service. The compose file sets no user:, as CARTO's does
// not.
const (
	RouterUser  = "101:101"
	ServiceUser = "1000:1000"
)

// ImageTag returns the stand-in image reference for a release version, the
// same one env.tpl produces from CARTO_SELFHOSTED_VERSION.
func ImageTag(version string) string { return ImageRepository + ":" + version }

// ImageTags returns every image reference BuildImages builds for version.
func ImageTags(version string) []string {
	return []string{ImageTag(version), RouterImageRepository + ":" + version}
}

// RemoveImages removes every stand-in image of version; an absent one is
// not an error.
func RemoveImages(ctx context.Context, eng *engine.Client, version string) error {
	var errs []error
	for _, tag := range ImageTags(version) {
		errs = append(errs, eng.RemoveImage(ctx, tag))
	}
	return errors.Join(errs...)
}

// DefaultVersion is the VERSION the embedded release carries.
func DefaultVersion() string {
	b, err := fs.ReadFile(files, "files/VERSION")
	if err != nil {
		panic("release: embedded VERSION is missing: " + err.Error())
	}
	return string(bytes.TrimSpace(b))
}

// validVersion accepts CARTO's tags (2026.8.11, 2026.8.11-rc.7) and a
// suffix a test may add; it must also be a valid image tag.
func validVersion(v string) bool {
	return regexp.MustCompile(`^[0-9]{4}\.[0-9]{1,2}\.[0-9]{1,2}([-.][0-9A-Za-z.-]{1,60})?$`).MatchString(v)
}

// Write writes the stand-in release into dir, creating it if needed, with
// version in VERSION (the embedded default when version is empty). The
// files are written atomically; install.sh is executable. Existing
// customer.env, key.json, .env and certs/ are left alone.
func Write(dir string, version string) error {
	if version == "" {
		version = DefaultVersion()
	}
	return writeRelease(dir, version, nil)
}

// writeRelease writes the embedded release with version in VERSION, each
// file passed through edit first when edit is not nil (WriteOlder).
func writeRelease(dir, version string, edit func(name string, data []byte) ([]byte, error)) error {
	if !validVersion(version) {
		return fmt.Errorf("release: write: version %q is not of the form YYYY.M.D[-suffix]", version)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("release: write: %w", err)
	}
	entries, err := fs.ReadDir(files, "files")
	if err != nil {
		return fmt.Errorf("release: write: %w", err)
	}
	for _, e := range entries {
		data, err := fs.ReadFile(files, "files/"+e.Name())
		if err != nil {
			return fmt.Errorf("release: write: %w", err)
		}
		mode := os.FileMode(0o644)
		switch e.Name() {
		case "VERSION":
			data = []byte(version + "\n")
		case "install.sh":
			mode = 0o755
		}
		if edit != nil {
			if data, err = edit(e.Name(), data); err != nil {
				return fmt.Errorf("release: write: %w", err)
			}
		}
		if err := atomicfile.WriteFile(filepath.Join(dir, e.Name()), data, mode); err != nil {
			return fmt.Errorf("release: write: %w", err)
		}
	}
	return nil
}

// Dockerfile returns the stand-in image's recipe for a user: the static
// carto-setup executable alone, whose hidden "standin" subcommand plays the
// service named by the compose command, run as user.
func Dockerfile(user string) string {
	return `FROM scratch
COPY carto-setup /carto-setup
LABEL org.opencontainers.image.title="carto-setup stand-in CARTO release" \
      org.opencontainers.image.description="Test double of CARTO Self-Hosted; not CARTO software"
USER ` + user + `
ENTRYPOINT ["/carto-setup", "standin"]
`
}

// BuildImages builds the stand-in images ImageTags(version) from binary, a
// static executable (CGO_ENABLED=0) that runs standin.Main for the
// arguments "standin <service>": the router's as RouterUser, the others'
// as ServiceUser. Build output goes to progress.
func BuildImages(ctx context.Context, eng *engine.Client, binary string, version string, progress io.Writer) error {
	if !validVersion(version) {
		return fmt.Errorf("release: build images: version %q is not of the form YYYY.M.D[-suffix]", version)
	}
	if err := checkStatic(binary); err != nil {
		return fmt.Errorf("release: build images: %w", err)
	}
	exe, err := os.ReadFile(binary)
	if err != nil {
		return fmt.Errorf("release: build images: %w", err)
	}
	files := map[string]engine.BuildFile{"carto-setup": {Data: exe, Mode: 0o755}}
	tags := ImageTags(version)
	for i, user := range []string{ServiceUser, RouterUser} {
		if err := eng.BuildImage(ctx, tags[i], files, Dockerfile(user), progress); err != nil {
			return fmt.Errorf("release: build images: %w", err)
		}
	}
	return nil
}

// EnsureImages builds the stand-in images of version from binary unless the
// engine has every one of them already. It reports whether it built them.
func EnsureImages(ctx context.Context, eng *engine.Client, binary, version string, progress io.Writer) (built bool, err error) {
	for _, tag := range ImageTags(version) {
		ok, err := eng.ImageExists(ctx, tag)
		if err != nil {
			return false, fmt.Errorf("release: look for %s: %w", tag, err)
		}
		if !ok {
			return true, BuildImages(ctx, eng, binary, version, progress)
		}
	}
	return false, nil
}

// checkStatic refuses an executable that needs a dynamic loader: it would
// not start in a FROM scratch image, and the failure there is obscure.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s is not a Linux executable: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New(path + " is dynamically linked; build it with CGO_ENABLED=0")
		}
	}
	return nil
}
