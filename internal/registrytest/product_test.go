package registrytest

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/carto-setup/carto-setup/internal/testenv"
)

// TestNotInTheProduct: the binary depends on the registry (ociregistry, for
// --demo) but never on this test helper.
func TestNotInTheProduct(t *testing.T) {
	gobin := testenv.LookPath(t, "go", "install Go")
	out, err := exec.Command(gobin, "list", "-deps", "github.com/carto-setup/carto-setup/cmd/carto-setup").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	has := func(pkg string) bool {
		for _, d := range deps {
			if d == pkg {
				return true
			}
		}
		return false
	}
	if has("github.com/carto-setup/carto-setup/internal/registrytest") {
		t.Error("the binary imports internal/registrytest, a test helper")
	}
	if !has("github.com/carto-setup/carto-setup/internal/ociregistry") {
		t.Error("the binary does not import internal/ociregistry: --demo has no registry")
	}
}
