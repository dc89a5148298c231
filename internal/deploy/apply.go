package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
)

// BackupLayout is the time layout of a customer.env backup's suffix, in
// UTC: customer.env.bak-20261122T071500.
const BackupLayout = "20060102T150405"

// Apply writes the plan's files into its release directory: certs/ with
// mode 0700, every file atomically with mode 0600. A file whose content is
// already what the plan says is not rewritten (only its mode is fixed), so
// applying a plan twice writes nothing the second time. When customer.env
// changes, its previous content is first kept as
// customer.env.bak-<now in UTC as BackupLayout> (mode 0600).
func Apply(p Plan, now time.Time) error {
	if p.dir == "" {
		return errors.New("deploy: apply: empty plan")
	}
	certs := filepath.Join(p.dir, CertsDir)
	if err := os.MkdirAll(certs, DirPerm); err != nil {
		return fmt.Errorf("deploy: apply: %w", err)
	}
	if err := fixPerm(certs, DirPerm); err != nil {
		return err
	}
	for _, f := range p.files {
		path := filepath.Join(p.dir, f.rel)
		cur, err := os.ReadFile(path)
		switch {
		case err == nil && bytes.Equal(cur, f.data):
			if err := fixPerm(path, FilePerm); err != nil {
				return err
			}
			continue
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("deploy: apply: read %s: %w", f.rel, err)
		}
		if f.rel == CustomerEnvFile && err == nil {
			if err := backup(p.dir, cur, now); err != nil {
				return err
			}
		}
		if err := atomicfile.WriteFile(path, f.data, FilePerm); err != nil {
			return fmt.Errorf("deploy: apply: %w", err)
		}
	}
	return nil
}

// fixPerm sets a path's permission bits when they differ.
func fixPerm(path string, perm fs.FileMode) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("deploy: apply: %w", err)
	}
	if st.Mode().Perm() == perm {
		return nil
	}
	if err := os.Chmod(path, perm); err != nil {
		return fmt.Errorf("deploy: apply: %w", err)
	}
	return nil
}

// backup keeps data as a timestamped copy of customer.env. A backup of the
// same second with the same content is reused; a different one gets a
// numbered name.
func backup(dir string, data []byte, now time.Time) error {
	name := CustomerEnvFile + ".bak-" + now.UTC().Format(BackupLayout)
	for i := 1; ; i++ {
		candidate := name
		if i > 1 {
			candidate += "-" + strconv.Itoa(i)
		}
		path := filepath.Join(dir, candidate)
		cur, err := os.ReadFile(path)
		if err == nil {
			if bytes.Equal(cur, data) {
				return nil
			}
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("deploy: apply: backup customer.env: %w", err)
		}
		if err := atomicfile.WriteFile(path, data, FilePerm); err != nil {
			return fmt.Errorf("deploy: apply: backup customer.env: %w", err)
		}
		return nil
	}
}
