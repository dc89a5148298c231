package deploy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/fileaccess"
)

// GrantAccess gives the files an install places in releaseDir (key.json,
// customer.env, .env and everything under certs/) read access for exactly
// the users of the services that read them, and nobody else, judged from
// the .env and docker-compose.yml on disk as ApplyWith judges them from a
// plan. A restore of the history writes the files back owner-only (a file
// replaced by rename loses its ACL): this gives the containers back what
// they read. A service whose image is not on this host gets no access;
// logf (nil: silent) says so. It returns the readers given to each file,
// by path relative to releaseDir.
func GrantAccess(ctx context.Context, users ImageUsers, releaseDir string, logf func(string, ...any)) (map[string][]fileaccess.User, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	dotEnv, err := os.ReadFile(filepath.Join(releaseDir, DotEnvFile))
	if err != nil {
		return nil, fmt.Errorf("deploy: grant access: %w", err)
	}
	env, err := envfile.Parse(dotEnv)
	if err != nil {
		return nil, fmt.Errorf("deploy: grant access: parse .env: %w", err)
	}
	composeFile, err := os.ReadFile(filepath.Join(releaseDir, compose.FileName))
	if err != nil {
		return nil, fmt.Errorf("deploy: grant access: %w", err)
	}
	services := parseComposeServices(composeFile)
	images := map[string]string{}
	for _, s := range services {
		if s.image != "" {
			images[s.name] = interpolate(s.image, env)
		}
	}

	rels, err := placedFiles(releaseDir)
	if err != nil {
		return nil, err
	}
	readers := map[string][]string{}
	var needed []string
	for _, rel := range rels {
		readers[rel] = fileReaders(services, env, releaseDir, rel)
		for _, s := range readers[rel] {
			if !slices.Contains(needed, s) {
				needed = append(needed, s)
			}
		}
	}
	known := map[string]fileaccess.User{}
	for _, s := range needed {
		ref := images[s]
		if ref == "" || users == nil {
			logf("Warning: no image user is known for %s; its files stay owner-only.", s)
			continue
		}
		u, present, err := users.ImageUser(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("deploy: grant access: the user of %s: %w", ref, err)
		}
		if !present {
			logf("Warning: the image %s of %s is not on this host, so its files stay owner-only.", ref, s)
			continue
		}
		known[s] = fileaccess.User{UID: u.UID, GID: u.GID}
	}

	granted := map[string][]fileaccess.User{}
	var dirReaders []fileaccess.User
	for _, rel := range rels {
		who := usersOf(readers[rel], known)
		if err := grantFile(releaseDir, rel, who, nil); err != nil {
			return nil, fmt.Errorf("deploy: grant access: %w", err)
		}
		granted[rel] = who
		if filepath.Dir(rel) != "." {
			for _, u := range who {
				if !slices.Contains(dirReaders, u) {
					dirReaders = append(dirReaders, u)
				}
			}
		}
	}
	certs := filepath.Join(releaseDir, CertsDir)
	if _, err := os.Stat(certs); err == nil {
		if _, err := (&fileaccess.Granter{}).Grant(certs, true, dirReaders); err != nil {
			return nil, fmt.Errorf("deploy: grant access: %w", err)
		}
	}
	return granted, nil
}

// placedFiles lists the regular files of releaseDir an install places:
// the top-level ones that exist and every file under certs/, sorted.
func placedFiles(releaseDir string) ([]string, error) {
	var rels []string
	for _, name := range []string{ServiceKeyFile, CustomerEnvFile, DotEnvFile} {
		fi, err := os.Lstat(filepath.Join(releaseDir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("deploy: grant access: %w", err)
		}
		if fi.Mode().IsRegular() {
			rels = append(rels, name)
		}
	}
	err := filepath.WalkDir(filepath.Join(releaseDir, CertsDir), func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return fs.SkipAll
		}
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(releaseDir, path)
			if err != nil {
				return err
			}
			rels = append(rels, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("deploy: grant access: %w", err)
	}
	sort.Strings(rels)
	return rels, nil
}
