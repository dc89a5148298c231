package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
	"github.com/carto-setup/carto-setup/internal/config"
	"github.com/carto-setup/carto-setup/internal/demo/release"
	"github.com/carto-setup/carto-setup/internal/engine"
)

// prepareDemo writes a stand-in release under the state directory (once;
// later starts reuse it) and sample customer packages beside it, and
// points the wizard at the release. The release is a git repository with
// two release tags, checked out at the older, so that an upgrade can be
// walked too: `git checkout` the newer tag, then the Upgrade page. Nothing
// of CARTO's is needed.
func prepareDemo(cfg *config.Config, stdout io.Writer) error {
	if err := cfg.EnsureStateDir(); err != nil {
		return err
	}
	dir := filepath.Join(cfg.StateDir, "demo-release")
	_, gitErr := os.Stat(filepath.Join(dir, ".git"))
	_, composeErr := os.Stat(filepath.Join(dir, "docker-compose.yml"))
	switch {
	case gitErr == nil || errors.Is(composeErr, os.ErrNotExist):
		if _, err := release.WriteRepo(dir); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	default:
		fmt.Fprintf(stdout, "Demo mode: %s is a stand-in release from an earlier carto-setup, not a git repository; remove it for one with two releases to upgrade between.\n", dir)
	}
	pkg := filepath.Join(cfg.StateDir, "demo-package")
	newer := filepath.Join(pkg, release.NewerVersion)
	if _, err := os.Stat(filepath.Join(pkg, "customer.env")); errors.Is(err, os.ErrNotExist) {
		key, err := release.SampleKeyJSON()
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		olderEnv, newerEnv := release.SampleCustomerEnvs("carto.example.com")
		for d, env := range map[string][]byte{pkg: olderEnv, newer: newerEnv} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			if err := atomicfile.WriteFile(filepath.Join(d, "key.json"), key, 0o600); err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			if err := atomicfile.WriteFile(filepath.Join(d, "customer.env"), env, 0o600); err != nil {
				return fmt.Errorf("demo: %w", err)
			}
		}
	}
	cfg.Dir = dir
	fmt.Fprintf(stdout, "Demo mode: stand-in CARTO release in %s (git tags %s and %s, %s checked out)\n", dir, release.OlderVersion, release.NewerVersion, release.OlderVersion)
	fmt.Fprintf(stdout, "Demo mode: a sample customer package to upload is in %s\n", pkg)
	if _, err := os.Stat(newer); err == nil {
		fmt.Fprintf(stdout, "Demo mode: to upgrade, run `git -C %s checkout tags/%s`, open the Upgrade page and upload the package in %s\n", dir, release.NewerVersion, newer)
	}
	return nil
}

// demoImages builds the stand-in images of both demo releases from binary
// unless Docker has them, so that the install and the upgrade start at
// once. Without Docker it says so and leaves the building to the install.
func demoImages(binary string, stdout io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	eng, err := engine.New(ctx)
	if err != nil {
		fmt.Fprintf(stdout, "Demo mode: Docker is not reachable, so the stand-in images are built at install time: %v\n", err)
		return
	}
	defer eng.Close()
	for _, v := range []string{release.OlderVersion, release.NewerVersion} {
		built, err := release.EnsureImages(ctx, eng, binary, v, io.Discard)
		switch {
		case err != nil:
			fmt.Fprintf(stdout, "Demo mode: the stand-in images of %s could not be built (the install tries again): %v\n", v, err)
		case built:
			fmt.Fprintf(stdout, "Demo mode: built the stand-in images of %s\n", v)
		}
	}
}
