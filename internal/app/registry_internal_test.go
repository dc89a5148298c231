package app

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/demo/release"
)

// TestRegistryCheckerStandin: the stand-in's local images need no
// registry when the install can build them, and fail when it cannot.
func TestRegistryCheckerStandin(t *testing.T) {
	refs := release.ImageTags("2026.8.11")
	bin := filepath.Join(t.TempDir(), "carto-setup")
	if err := os.WriteFile(bin, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	getenv := func(string) string { return "" }
	rs := registryChecker(getenv, bin).Check(context.Background(), refs)
	if len(rs) != 1 || rs[0].ID != "preflight.images" || rs[0].Status != check.Pass {
		t.Errorf("with the binary: %+v, want one pass", rs)
	}
	rs = registryChecker(getenv, filepath.Join(t.TempDir(), "absent")).Check(context.Background(), refs)
	if len(rs) != 1 || rs[0].Status != check.Fail {
		t.Errorf("without the binary: %+v, want a failure", rs)
	}
	if !localStandin(refs[0]) || !localStandin(refs[1]) || localStandin("127.0.0.1:5000/carto-standin/standin:1") {
		t.Error("localStandin does not tell local stand-in images from a registry's")
	}
}
