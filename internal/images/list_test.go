package images

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/demo/standin"
	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/installsh"
)

// writeStandin writes the stand-in release pointed at base and its
// generated .env, as install.sh would, and returns the directory.
func writeStandin(t *testing.T, version, base string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "carto-selfhosted")
	if err := release.Write(dir, version); err != nil {
		t.Fatal(err)
	}
	if base != "" {
		if err := release.UseRegistry(dir, base); err != nil {
			t.Fatal(err)
		}
	}
	tpl, err := os.ReadFile(filepath.Join(dir, "env.tpl"))
	if err != nil {
		t.Fatal(err)
	}
	dotEnv := installsh.DotEnv(release.SampleCustomerEnv("carto.example.com"), []byte(version+"\n"), tpl)
	if err := os.WriteFile(filepath.Join(dir, ".env"), dotEnv, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestListStandinRelease(t *testing.T) {
	for _, tt := range []struct{ name, base, prefix string }{
		{"built locally", "", "carto-standin/"},
		{"from a registry", "127.0.0.1:5000/carto-standin", "127.0.0.1:5000/carto-standin/"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeStandin(t, "2026.8.11", tt.base)
			got, err := ListRelease(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{tt.prefix + "router-http:2026.8.11", tt.prefix + "standin:2026.8.11"}
			if !slices.Equal(Refs(got), want) {
				t.Fatalf("ListRelease = %+v, want %v", got, want)
			}
			if !slices.Equal(got[0].Services, []string{"router-http"}) {
				t.Errorf("the router image runs %v, want router-http alone", got[0].Services)
			}
			var every []string
			for _, im := range got {
				every = append(every, im.Services...)
			}
			slices.Sort(every)
			if want := standin.Services(); !slices.Equal(every, want) {
				t.Errorf("services %v, want every stand-in service %v", every, want)
			}
			if got[1].ScaledToZero {
				t.Error("the image is marked scaled to zero, but most services run it")
			}
			if tt.base != "" && got[1].Ref != release.RemoteImageTags(tt.base, "2026.8.11")[0] {
				t.Errorf("ListRelease gives %s, RemoteImageTags %s", got[1].Ref, release.RemoteImageTags(tt.base, "2026.8.11")[0])
			}
		})
	}
}

// TestListReleasePlanned lists a release as its install would pull it:
// from env.tpl and VERSION, never from a stale .env left by an older one,
// and without a customer.env at all (a connected machine saving a bundle).
func TestListReleasePlanned(t *testing.T) {
	dir := t.TempDir()
	if err := release.Write(dir, "2026.8.11"); err != nil {
		t.Fatal(err)
	}
	stale := "CARTO_SELFHOSTED_VERSION=2026.7.16\nROUTER_HTTP_DOCKER_IMAGE=old/router:1\n"
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ListRelease(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"carto-standin/router-http:2026.8.11", "carto-standin/standin:2026.8.11"}; !slices.Equal(Refs(got), want) {
		t.Errorf("ListRelease = %v, want %v", Refs(got), want)
	}
	if err := os.Remove(filepath.Join(dir, "VERSION")); err != nil {
		t.Fatal(err)
	}
	if _, err := ListRelease(dir, nil); err == nil || !strings.Contains(err.Error(), "VERSION") {
		t.Errorf("ListRelease without VERSION: %v, want an error naming it", err)
	}
}

func TestList(t *testing.T) {
	env := `DOCKER_REGISTRY_BASE_PATH=gcr.io/carto-onprem-artifacts
CARTO_SELFHOSTED_VERSION=2026.8.11
MAPS_API_DOCKER_IMAGE=${DOCKER_REGISTRY_BASE_PATH}/maps-api:${CARTO_SELFHOSTED_VERSION}
LOCAL_POSTGRES_SCALE=0
EMPTY=
`
	tests := []struct {
		name    string
		compose string
		want    []Image
		wantErr string
	}{
		{
			name: "variables, shared images, defaults and scale 0",
			compose: `version: "2.4"
x-logging: &logging
  driver: local
services:
  maps-api:
    image: ${MAPS_API_DOCKER_IMAGE}
    logging: *logging
  sql-worker:
    image: "${MAPS_API_DOCKER_IMAGE}"
  workspace-postgres:
    image: ${POSTGRES_IMAGE:-postgres:13.2-alpine}
    scale: ${LOCAL_POSTGRES_SCALE}
  lds-api:
    image: $DOCKER_REGISTRY_BASE_PATH/lds-api:$CARTO_SELFHOSTED_VERSION
    scale: 1
  literal:
    image: busybox
  dollars:
    image: ${EMPTY:-docker.io/library/x}:1
`,
			want: []Image{
				{Ref: "busybox", Services: []string{"literal"}},
				{Ref: "docker.io/library/x:1", Services: []string{"dollars"}},
				{Ref: "gcr.io/carto-onprem-artifacts/lds-api:2026.8.11", Services: []string{"lds-api"}},
				{Ref: "gcr.io/carto-onprem-artifacts/maps-api:2026.8.11", Services: []string{"maps-api", "sql-worker"}},
				{Ref: "postgres:13.2-alpine", Services: []string{"workspace-postgres"}, ScaledToZero: true},
			},
		},
		{name: "no image", compose: "services:\n  a:\n    build: .\n", wantErr: "service a has no image"},
		{name: "unset variable", compose: "services:\n  a:\n    image: ${NOPE}\n", wantErr: "empty once resolved"},
		{name: "bad reference", compose: "services:\n  a:\n    image: ${DOCKER_REGISTRY_BASE_PATH}/UPPER:1\n", wantErr: "not a valid image reference"},
		{name: "required variable", compose: "services:\n  a:\n    image: ${NOPE:?set it}\n", wantErr: "NOPE"},
		{name: "quote in image", compose: "services:\n  a:\n    image: '${X}\"'\n", wantErr: "not a valid image reference"},
		{name: "no services", compose: "version: \"2.4\"\n", wantErr: "names no service"},
		{name: "not yaml", compose: "services: [\n", wantErr: "read docker-compose.yml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := envfile.Parse([]byte(env))
			if err != nil {
				t.Fatal(err)
			}
			got, err := List([]byte(tt.compose), f)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("List: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("List = %+v\nwant %+v", got, tt.want)
			}
			for i := range got {
				if got[i].Ref != tt.want[i].Ref || !slices.Equal(got[i].Services, tt.want[i].Services) || got[i].ScaledToZero != tt.want[i].ScaledToZero {
					t.Errorf("image %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
			if f2, _ := envfile.Parse([]byte(env)); string(f2.Bytes()) != string(f.Bytes()) {
				t.Error("List changed the .env it was given")
			}
		})
	}
}

func TestRegistryOfRef(t *testing.T) {
	for ref, want := range map[string]string{
		"gcr.io/carto-onprem-artifacts/maps-api:1": "gcr.io",
		"postgres:13.2-alpine":                     "docker.io",
		"127.0.0.1:5000/carto-standin/standin:1":   "127.0.0.1:5000",
		"localhost/x":                              "localhost",
	} {
		if got := Registry(ref); got != want {
			t.Errorf("Registry(%q) = %q, want %q", ref, got, want)
		}
	}
	if got := tagOf("postgres"); got != "latest" {
		t.Errorf("tagOf(postgres) = %q", got)
	}
	if got := repoOf("gcr.io/carto-onprem-artifacts/maps-api:1"); got != "carto-onprem-artifacts/maps-api" {
		t.Errorf("repoOf = %q", got)
	}
}
