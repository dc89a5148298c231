package release

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/carto-setup/carto-setup/internal/demo/standin"
	"github.com/carto-setup/carto-setup/internal/installsh"
	"github.com/carto-setup/carto-setup/internal/testenv"
)

// composeServices returns the service names of a compose file written by
// this package, sorted.
func composeServices(t *testing.T, text string) []string {
	t.Helper()
	_, section, _ := strings.Cut(text, "\nservices:\n")
	section, _, _ = strings.Cut(section, "\nvolumes:\n")
	var got []string
	for _, m := range regexp.MustCompile(`(?m)^  ([a-z-]+):$`).FindAllStringSubmatch(section, -1) {
		got = append(got, m[1])
	}
	slices.Sort(got)
	return got
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestOlderRelease checks what separates the two releases: the older's
// VERSION and MIN_VERSION, its env.tpl without the newer's added key and
// with the redis image variable, its cache service named redis without the
// alias, and nothing else changed.
func TestOlderRelease(t *testing.T) {
	oldDir, newDir := t.TempDir(), t.TempDir()
	if err := WriteOlder(oldDir, ""); err != nil {
		t.Fatal(err)
	}
	if err := Write(newDir, NewerVersion); err != nil {
		t.Fatal(err)
	}
	if got := read(t, oldDir, "VERSION"); got != OlderVersion+"\n" {
		t.Errorf("older VERSION = %q", got)
	}
	if got, want := read(t, oldDir, "MIN_VERSION"), OlderMinVersion+"\n"; got != want {
		t.Errorf("older MIN_VERSION = %q, want %q", got, want)
	}
	if got, want := read(t, newDir, "MIN_VERSION"), NewerMinVersion+"\n"; got != want {
		t.Errorf("newer MIN_VERSION = %q, want %q", got, want)
	}
	oldTpl, newTpl := read(t, oldDir, "env.tpl"), read(t, newDir, "env.tpl")
	if strings.Contains(oldTpl, "WORKSPACE_HTTP_REQUEST_RESTRICT_IPS") || !strings.Contains(newTpl, "\nWORKSPACE_HTTP_REQUEST_RESTRICT_IPS=true\n") {
		t.Error("only the newer env.tpl must set WORKSPACE_HTTP_REQUEST_RESTRICT_IPS")
	}
	if !strings.Contains(oldTpl, "\nREDIS_DOCKER_IMAGE=") || strings.Contains(oldTpl, "VALKEY") {
		t.Error("the older env.tpl must name the cache image REDIS_DOCKER_IMAGE")
	}
	oldCompose := read(t, oldDir, "docker-compose.yml")
	want := slices.Clone(standin.Services())
	want[slices.Index(want, "valkey")] = "redis"
	slices.Sort(want)
	if got := composeServices(t, oldCompose); !slices.Equal(got, want) {
		t.Errorf("older services %v\nwant %v", got, want)
	}
	if strings.Contains(oldCompose, "aliases:") || !strings.Contains(oldCompose, "image: ${REDIS_DOCKER_IMAGE}\n    command: [\"valkey\"]\n") {
		t.Errorf("the older redis service is not the valkey one renamed:\n%s", oldCompose)
	}
	for _, name := range []string{"install.sh"} {
		if read(t, oldDir, name) != read(t, newDir, name) {
			t.Errorf("%s differs between the releases", name)
		}
	}
	// The rest of the compose file and env.tpl is the same: undoing the
	// edits gives the newer files back.
	for name, text := range map[string]string{"env.tpl": oldTpl, "docker-compose.yml": oldCompose} {
		edits := olderEdits[name]
		back := text
		for i := len(edits) - 1; i >= 0; i-- {
			if edits[i].new == "" {
				continue
			}
			back = strings.Replace(back, edits[i].new, edits[i].old, 1)
		}
		newer := read(t, newDir, name)
		for _, e := range edits {
			if e.new == "" {
				newer = strings.Replace(newer, e.old, "", 1)
			}
		}
		if back != newer {
			t.Errorf("%s: the older differs from the newer beyond the listed edits", name)
		}
	}
	if SchemaVersion := standin.SchemaVersion; SchemaVersion(NewerVersion) <= SchemaVersion(OlderVersion) {
		t.Errorf("the newer stand-in schema (%d) is not above the older's (%d)", SchemaVersion(NewerVersion), SchemaVersion(OlderVersion))
	}
}

func TestSampleCustomerEnvs(t *testing.T) {
	older, newer := SampleCustomerEnvs("carto.example.com")
	o, n := uncommented(string(older)), uncommented(string(newer))
	if o["CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION"] != OlderPackageVersion || n["CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION"] != SamplePackageVersion {
		t.Fatalf("package versions %q and %q", o["CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION"], n["CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION"])
	}
	// The older package fits the older release only; the newer both.
	for _, tt := range []struct {
		pkg, min string
		ok       bool
	}{
		{OlderPackageVersion, OlderMinVersion, true},
		{OlderPackageVersion, NewerMinVersion, false},
		{SamplePackageVersion, NewerMinVersion, true},
	} {
		if got := installsh.MinVersionCheck(tt.pkg, []byte(tt.min+"\n")).Status == "pass"; got != tt.ok {
			t.Errorf("package %s against MIN_VERSION %s: accepted %v, want %v", tt.pkg, tt.min, got, tt.ok)
		}
	}
	// Same tenant, same secrets: only the version line differs.
	if !bytes.Equal(bytes.Replace(older, []byte("="+OlderPackageVersion+"\n"), []byte("="+SamplePackageVersion+"\n"), 1), newer) {
		t.Error("the two packages differ beyond the package version")
	}
	if other, _ := SampleCustomerEnvs("carto.example.com"); bytes.Equal(other, older) {
		t.Error("two calls share their secrets")
	}
}

func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestWriteRepo checks the repository: two tags whose trees are WriteOlder
// and Write, HEAD detached at the older, the admin's files untouched and
// never committed, and a second call changing nothing.
func TestWriteRepo(t *testing.T) {
	testenv.LookPath(t, "git", "apt-get install git")
	dir := filepath.Join(t.TempDir(), "carto-selfhosted")
	// The admin's files and carto-setup's state are already there.
	os.MkdirAll(filepath.Join(dir, ".carto-setup"), 0o700)
	mine := map[string]string{"customer.env": "A=1\n", "key.json": "{}\n", ".carto-setup/state.json": "{}\n"}
	for name, text := range mine {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tags, err := WriteRepo(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tags, []string{OlderVersion, NewerVersion}) {
		t.Fatalf("tags %v", tags)
	}
	if got := gitOut(t, dir, "tag", "--list"); got != OlderVersion+"\n"+NewerVersion {
		t.Errorf("git tag --list = %q", got)
	}
	if head, older := gitOut(t, dir, "rev-parse", "HEAD"), gitOut(t, dir, "rev-parse", OlderVersion+"^{commit}"); head != older {
		t.Errorf("HEAD %s is not the older tag %s", head, older)
	}
	if got := gitOut(t, dir, "status", "--porcelain", "--untracked-files=no"); got != "" {
		t.Errorf("the checkout is not clean: %q", got)
	}
	tracked := strings.Fields(gitOut(t, dir, "ls-tree", "--name-only", NewerVersion))
	slices.Sort(tracked)
	if want := []string{".gitignore", "MIN_VERSION", "VERSION", "docker-compose.yml", "env.tpl", "install.sh"}; !slices.Equal(tracked, want) {
		t.Errorf("tracked files %v, want %v", tracked, want)
	}
	for name, text := range mine {
		if read(t, dir, name) != text {
			t.Errorf("%s changed", name)
		}
	}
	for _, tt := range []struct {
		tag   string
		write func(string, string) error
	}{{OlderVersion, WriteOlder}, {NewerVersion, Write}} {
		want := t.TempDir()
		if err := tt.write(want, tt.tag); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"VERSION", "MIN_VERSION", "env.tpl", "docker-compose.yml", "install.sh"} {
			if got := gitOut(t, dir, "show", tt.tag+":"+name); got != strings.TrimSpace(read(t, want, name)) {
				t.Errorf("%s:%s differs from the release written directly", tt.tag, name)
			}
		}
	}
	if mode := gitOut(t, dir, "ls-tree", NewerVersion, "install.sh"); !strings.HasPrefix(mode, "100755") {
		t.Errorf("install.sh is not executable in git: %s", mode)
	}

	// The admin moves to the newer release; WriteRepo again leaves it there.
	gitOut(t, dir, "checkout", "--quiet", "tags/"+NewerVersion)
	if tags, err := WriteRepo(dir); err != nil || len(tags) != 2 {
		t.Fatalf("second WriteRepo: %v %v", tags, err)
	}
	if got := read(t, dir, "VERSION"); got != NewerVersion+"\n" {
		t.Errorf("the second WriteRepo moved the checkout: VERSION %q", got)
	}

	// Tags of its own for a test.
	tags, err = WriteRepoTags(filepath.Join(t.TempDir(), "r"), "-t42")
	if err != nil || !slices.Equal(tags, []string{"2026.7.16-t42", "2026.8.11-t42"}) {
		t.Errorf("WriteRepoTags: %v %v", tags, err)
	}
}

// TestComposeAcceptsBothReleases generates .env for each release with its
// own install.sh and asks docker-compose for the resolved services and
// images, as it would before starting them: the older release has redis,
// the newer valkey, each on its own image tag.
func TestComposeAcceptsBothReleases(t *testing.T) {
	t.Parallel()
	compose := testenv.LookPath(t, "docker-compose", "apt-get install docker-compose")
	bash := testenv.LookPath(t, "bash", "apt-get install bash")
	older, newer := SampleCustomerEnvs("carto.example.com")
	for _, tt := range []struct {
		version, cache string
		write          func(string, string) error
		pkg            []byte
	}{
		{OlderVersion, "redis", WriteOlder, older},
		{NewerVersion, "valkey", Write, newer},
	} {
		dir := t.TempDir()
		if err := tt.write(dir, tt.version); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "customer.env"), tt.pkg, 0o600)
		os.WriteFile(filepath.Join(dir, "key.json"), []byte(`{"type":"service_account"}`), 0o600)
		install := exec.Command(bash, "install.sh", "--ignore-checks")
		install.Dir = dir
		if out, err := install.CombinedOutput(); err != nil {
			t.Fatalf("%s: install.sh: %v\n%s", tt.version, err, out)
		}
		config := func(args ...string) string {
			cmd := exec.Command(compose, append([]string{"--project-directory", dir, "-f", filepath.Join(dir, "docker-compose.yml"), "config"}, args...)...)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: docker-compose config %v: %v\n%s", tt.version, args, err, out)
			}
			return string(out)
		}
		services := strings.Fields(config("--services"))
		slices.Sort(services)
		want := slices.Clone(standin.Services())
		want[slices.Index(want, "valkey")] = tt.cache
		slices.Sort(want)
		if !slices.Equal(services, want) {
			t.Errorf("%s: services %v\nwant %v", tt.version, services, want)
		}
		var resolved struct {
			Services map[string]struct{ Image string }
		}
		if err := yaml.Unmarshal([]byte(config()), &resolved); err != nil {
			t.Fatal(err)
		}
		if len(resolved.Services) != len(want) {
			t.Errorf("%s: %d services resolved, want %d", tt.version, len(resolved.Services), len(want))
		}
		for name, s := range resolved.Services {
			want := ImageTag(tt.version)
			if name == "router-http" {
				want = RouterImageRepository + ":" + tt.version // the router runs as its own user
			}
			if s.Image != want {
				t.Errorf("%s: %s runs %q, want %s", tt.version, name, s.Image, want)
			}
		}
	}
}
