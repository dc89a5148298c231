package app

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
	"github.com/carto-setup/carto-setup/internal/config"
	"github.com/carto-setup/carto-setup/internal/demo/release"
)

// prepareDemo writes a stand-in release under the state directory (once;
// later starts reuse it) and a sample customer package beside it, and
// points the wizard at the release. Nothing of CARTO's is needed.
func prepareDemo(cfg *config.Config, stdout io.Writer) error {
	if err := cfg.EnsureStateDir(); err != nil {
		return err
	}
	dir := filepath.Join(cfg.StateDir, "demo-release")
	if _, err := os.Stat(filepath.Join(dir, "docker-compose.yml")); errors.Is(err, os.ErrNotExist) {
		if err := release.Write(dir, ""); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	pkg := filepath.Join(cfg.StateDir, "demo-package")
	if _, err := os.Stat(filepath.Join(pkg, "customer.env")); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(pkg, 0o700); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		key, err := release.SampleKeyJSON()
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if err := atomicfile.WriteFile(filepath.Join(pkg, "key.json"), key, 0o600); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if err := atomicfile.WriteFile(filepath.Join(pkg, "customer.env"), release.SampleCustomerEnv("carto.example.com"), 0o600); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	cfg.Dir = dir
	fmt.Fprintf(stdout, "Demo mode: stand-in CARTO release in %s\n", dir)
	fmt.Fprintf(stdout, "Demo mode: a sample customer package to upload is in %s\n", pkg)
	return nil
}
