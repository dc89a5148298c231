package upgrade

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/carto-setup/carto-setup/internal/demo/release"
)

// standinReleases writes the stand-in's two releases and reads them back.
func standinReleases(t *testing.T) (older, newer Release) {
	t.Helper()
	oldDir, newDir := t.TempDir(), t.TempDir()
	if err := release.WriteOlder(oldDir, ""); err != nil {
		t.Fatal(err)
	}
	if err := release.Write(newDir, release.NewerVersion); err != nil {
		t.Fatal(err)
	}
	older, err := ReadRelease(oldDir)
	if err != nil {
		t.Fatal(err)
	}
	newer, err = ReadRelease(newDir)
	if err != nil {
		t.Fatal(err)
	}
	return older, newer
}

func blockingIDs(p Plan) []string {
	var ids []string
	for _, r := range p.Blocking {
		ids = append(ids, r.ID)
	}
	return ids
}

// TestPlanStandinUpgrade plans the stand-in's upgrade with the older
// package and an admin's values for two keys env.tpl sets: the added and
// removed variables, both overrides (one new with this release), the
// redis -> valkey rename with every image moving to the new tag, and the
// MIN_VERSION block, which the newer package lifts.
func TestPlanStandinUpgrade(t *testing.T) {
	older, newer := standinReleases(t)
	oldPkg, newPkg := release.SampleCustomerEnvs("carto.example.com")
	edits := "LOG_LEVEL=info\nWORKSPACE_HTTP_REQUEST_RESTRICT_IPS=false\n"
	p, err := NewPlan(Input{Installed: older, Target: newer, CustomerEnv: append(oldPkg, edits...)})
	if err != nil {
		t.Fatal(err)
	}
	if p.From != release.OlderVersion || p.To != release.NewerVersion || p.Direction != Forward {
		t.Errorf("from %s to %s, %s", p.From, p.To, p.Direction)
	}
	if want := []string{"VALKEY_DOCKER_IMAGE", "WORKSPACE_HTTP_REQUEST_RESTRICT_IPS"}; !slices.Equal(p.VariablesAdded, want) {
		t.Errorf("added %v, want %v", p.VariablesAdded, want)
	}
	if want := []string{"REDIS_DOCKER_IMAGE"}; !slices.Equal(p.VariablesRemoved, want) {
		t.Errorf("removed %v, want %v", p.VariablesRemoved, want)
	}
	if diff := cmp.Diff([]Override{{Key: "WORKSPACE_HTTP_REQUEST_RESTRICT_IPS", New: true}, {Key: "LOG_LEVEL"}}, p.Overrides); diff != "" {
		t.Errorf("overrides (-want +got):\n%s", diff)
	}

	oldImage, newImage := release.ImageTag(release.OlderVersion), release.ImageTag(release.NewerVersion)
	if len(p.Services) != 17 {
		t.Errorf("%d services, want 17", len(p.Services))
	}
	for _, s := range p.Services {
		want := ServiceChange{Service: s.Service, Previous: s.Service, Change: Unchanged, OldImage: oldImage, NewImage: newImage}
		if s.Service == "router-http" {
			// The router has an image of its own (it runs as uid 101).
			want.OldImage = release.RouterImageRepository + ":" + release.OlderVersion
			want.NewImage = release.RouterImageRepository + ":" + release.NewerVersion
		}
		if s.Service == "valkey" {
			want.Previous, want.Change, want.Reason = "redis", Renamed, "network alias: valkey answers to redis"
		}
		if diff := cmp.Diff(want, s); diff != "" {
			t.Errorf("service %s (-want +got):\n%s", s.Service, diff)
		}
		if !s.ImageChanged() {
			t.Errorf("%s: image unchanged", s.Service)
		}
	}
	if p.Image("workspace-api") != newImage {
		t.Errorf("Image(workspace-api) = %q", p.Image("workspace-api"))
	}

	if !slices.Equal(blockingIDs(p), []string{"upgrade.min_version"}) || p.PackageVersion != release.OlderPackageVersion || p.MinVersion != release.NewerMinVersion {
		t.Fatalf("blocking %v, package %s, min %s", blockingIDs(p), p.PackageVersion, p.MinVersion)
	}
	msg := p.Blocking[0].Message + " " + p.Blocking[0].Hint
	for _, want := range []string{release.OlderPackageVersion, release.NewerMinVersion, "customer package of " + release.NewerVersion, "merged"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the block does not say %q: %s", want, msg)
		}
	}

	p, err = NewPlan(Input{Installed: older, Target: newer, CustomerEnv: newPkg})
	if err != nil {
		t.Fatal(err)
	}
	if p.Blocked() || len(p.Checks) != 1 || p.Checks[0].ID != "upgrade.min_version" || p.Checks[0].Status != "pass" || len(p.Overrides) != 0 {
		t.Errorf("with the newer package: blocking %v, checks %+v, overrides %v", blockingIDs(p), p.Checks, p.Overrides)
	}
}

func TestPlanDowngradeAndSame(t *testing.T) {
	older, newer := standinReleases(t)
	_, newPkg := release.SampleCustomerEnvs("carto.example.com")
	p, err := NewPlan(Input{Installed: newer, Target: older, CustomerEnv: newPkg})
	if err != nil {
		t.Fatal(err)
	}
	if p.Direction != Backward || !slices.Equal(blockingIDs(p), []string{"upgrade.downgrade"}) {
		t.Fatalf("downgrade: %s, blocking %v", p.Direction, blockingIDs(p))
	}
	if !strings.Contains(p.Blocking[0].Message, "forward-only") {
		t.Errorf("the block does not say why: %s", p.Blocking[0].Message)
	}
	var redis ServiceChange
	for _, s := range p.Services {
		if s.Service == "redis" {
			redis = s
		}
	}
	if redis.Change != Renamed || redis.Previous != "valkey" || redis.Reason != "network alias: valkey answered to redis" {
		t.Errorf("valkey -> redis going back: %+v", redis)
	}

	p, err = NewPlan(Input{Installed: newer, Target: newer, CustomerEnv: newPkg})
	if err != nil {
		t.Fatal(err)
	}
	if p.Direction != Same || p.Blocked() || len(p.VariablesAdded)+len(p.VariablesRemoved) != 0 {
		t.Errorf("same release: %s, blocking %v, variables %v %v", p.Direction, blockingIDs(p), p.VariablesAdded, p.VariablesRemoved)
	}
	for _, s := range p.Services {
		if s.Change != Unchanged || s.ImageChanged() {
			t.Errorf("same release: %+v", s)
		}
	}
}

func TestPlanPackageWithoutVersion(t *testing.T) {
	older, newer := standinReleases(t)
	p, err := NewPlan(Input{Installed: older, Target: newer, CustomerEnv: []byte("SELFHOSTED_DOMAIN=x\n")})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(blockingIDs(p), []string{"upgrade.package_version"}) {
		t.Errorf("blocking %v", blockingIDs(p))
	}
}

// release builds a Release from an env.tpl and a services: section.
func rel(version, envTpl, services string) Release {
	return Release{Version: version, MinVersionFile: []byte("2020.1.1\n"), EnvTpl: []byte(envTpl),
		Compose: []byte("version: \"2.4\"\nservices:\n" + services + "volumes:\n  data: {}\n")}
}

// TestServiceRenames runs the rename rules on small compose files: each
// rule pairs a removed with an added service, and an ambiguous match pairs
// nothing.
func TestServiceRenames(t *testing.T) {
	tpl := "REG=r\nA_IMAGE=${REG}/a:${CARTO_SELFHOSTED_VERSION}\nB_IMAGE=${REG}/b:${CARTO_SELFHOSTED_VERSION}\n"
	tests := []struct {
		name     string
		old, new string
		want     []ServiceChange
	}{
		{"alias", "  redis:\n    image: ${A_IMAGE}\n", "  valkey:\n    image: ${B_IMAGE}\n    networks:\n      default:\n        aliases: [redis]\n",
			[]ServiceChange{{Service: "valkey", Previous: "redis", Change: Renamed, Reason: "network alias: valkey answers to redis", OldImage: "r/a:1", NewImage: "r/b:2"}}},
		{"same image variable", "  worker:\n    image: ${A_IMAGE}\n", "  subscriber:\n    image: ${A_IMAGE}\n",
			[]ServiceChange{{Service: "subscriber", Previous: "worker", Change: Renamed, Reason: "same image variable: ${A_IMAGE}", OldImage: "r/a:1", NewImage: "r/a:2"}}},
		{"same ports", "  router:\n    image: ${A_IMAGE}\n    ports: [\"80:8080\", \"443:8443\"]\n",
			"  gateway:\n    image: ${B_IMAGE}\n    ports:\n      - \"443:8443\"\n      - \"80:8080\"\n",
			[]ServiceChange{{Service: "gateway", Previous: "router", Change: Renamed, Reason: "same published ports: 443:8443, 80:8080", OldImage: "r/a:1", NewImage: "r/b:2"}}},
		{"same named volume", "  db:\n    image: ${A_IMAGE}\n    volumes: [\"data:/var/lib/data\", \"./certs:/certs:ro\"]\n",
			"  postgres:\n    image: ${B_IMAGE}\n    volumes:\n      - type: volume\n        source: data\n        target: /data\n",
			[]ServiceChange{{Service: "postgres", Previous: "db", Change: Renamed, Reason: "same named volumes: data", OldImage: "r/a:1", NewImage: "r/b:2"}}},
		{"ambiguous: two added share the image", "  api:\n    image: ${A_IMAGE}\n", "  api2:\n    image: ${A_IMAGE}\n  api3:\n    image: ${A_IMAGE}\n",
			[]ServiceChange{{Service: "api2", Change: Added, NewImage: "r/a:2"}, {Service: "api3", Change: Added, NewImage: "r/a:2"}, {Previous: "api", Change: Removed, OldImage: "r/a:1"}}},
		{"nothing in common", "  a:\n    image: ${A_IMAGE}\n", "  b:\n    image: ${B_IMAGE}\n",
			[]ServiceChange{{Service: "b", Change: Added, NewImage: "r/b:2"}, {Previous: "a", Change: Removed, OldImage: "r/a:1"}}},
		{"kept with a literal image", "  cache:\n    image: postgres:13.2-alpine\n", "  cache:\n    image: postgres:15\n",
			[]ServiceChange{{Service: "cache", Previous: "cache", Change: Unchanged, OldImage: "postgres:13.2-alpine", NewImage: "postgres:15"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPlan(Input{Installed: rel("1", tpl, tt.old), Target: rel("2", tpl, tt.new), CustomerEnv: []byte("CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION=2026.1.1\n")})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, p.Services); diff != "" {
				t.Errorf("services (-want +got):\n%s", diff)
			}
		})
	}
}

// TestImageResolution resolves image: expressions as Compose does: env.tpl
// values built from customer.env keys and VERSION, defaults, and a
// customer.env key that env.tpl overrides (the last definition wins).
func TestImageResolution(t *testing.T) {
	tpl := "DOCKER_REGISTRY_BASE_PATH=gcr.io/carto-onprem-artifacts\nAPI_IMAGE=${DOCKER_REGISTRY_BASE_PATH}/workspace-api:${CARTO_SELFHOSTED_VERSION}\n"
	services := "  api:\n    image: ${API_IMAGE}\n  db:\n    image: \"${DB_IMAGE:-postgres}:${DB_TAG-13.2-alpine}\"\n  cdn:\n    image: ${MIRROR}/cdn:$CARTO_SELFHOSTED_VERSION\n  lit:\n    image: \"a$$b\"\n"
	customer := "DOCKER_REGISTRY_BASE_PATH=my.registry\nMIRROR='mirror.local'\nCARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION=2026.1.1\n"
	p, err := NewPlan(Input{Installed: rel("2026.7.16", tpl, services), Target: rel("2026.8.11-rc.7", tpl, services), CustomerEnv: []byte(customer)})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		"api": {"gcr.io/carto-onprem-artifacts/workspace-api:2026.7.16", "gcr.io/carto-onprem-artifacts/workspace-api:2026.8.11-rc.7"},
		"db":  {"postgres:13.2-alpine", "postgres:13.2-alpine"},
		"cdn": {"mirror.local/cdn:2026.7.16", "mirror.local/cdn:2026.8.11-rc.7"},
		"lit": {"a$b", "a$b"},
	}
	for _, s := range p.Services {
		if got := [2]string{s.OldImage, s.NewImage}; got != want[s.Service] {
			t.Errorf("%s: %v, want %v", s.Service, got, want[s.Service])
		}
	}
	if diff := cmp.Diff([]Override{{Key: "DOCKER_REGISTRY_BASE_PATH"}}, p.Overrides); diff != "" {
		t.Errorf("overrides (-want +got):\n%s", diff)
	}
}

func TestPlanBadFiles(t *testing.T) {
	good := rel("1", "A=1\n", "  a:\n    image: x\n")
	for name, in := range map[string]Input{
		"compose not YAML":       {Installed: good, Target: Release{Version: "2", EnvTpl: []byte("A=1\n"), Compose: []byte("services: [\n")}},
		"compose no services":    {Installed: good, Target: Release{Version: "2", EnvTpl: []byte("A=1\n"), Compose: []byte("version: \"2.4\"\n")}},
		"env.tpl unclosed quote": {Installed: good, Target: Release{Version: "2", EnvTpl: []byte("A=\"1\n"), Compose: good.Compose}},
		"unclosed ${ in image":   {Installed: good, Target: rel("2", "A=1\n", "  a:\n    image: ${A\n")},
	} {
		if _, err := NewPlan(in); err == nil || !strings.Contains(err.Error(), "target") {
			t.Errorf("%s: error %v, want one naming the target release", name, err)
		}
	}
}
