package pgbin

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
)

// InstallHint says how to get the programs on Debian and Ubuntu.
const InstallHint = "apt-get install postgresql"

// ErrNotFound means no directory holds both initdb and postgres.
var ErrNotFound = errors.New("pgbin: the PostgreSQL server programs (initdb, postgres) are not installed")

// ErrNoSystemUser means carto-setup runs as root and there is no postgres
// system user to run the server as.
var ErrNoSystemUser = errors.New("pgbin: running as root, and there is no postgres system user to run PostgreSQL as")

// debianBinGlob is where Debian's postgresql-<major> packages install the
// server programs.
const debianBinGlob = "/usr/lib/postgresql/*/bin"

// Dir returns the directory of initdb and postgres, preferring the newest
// /usr/lib/postgresql/<major>/bin, then the directory of postgres on PATH.
func Dir() (string, error) {
	return find(debianBinGlob, exec.LookPath)
}

func find(glob string, lookPath func(string) (string, error)) (string, error) {
	dirs, _ := filepath.Glob(glob)
	sort.Slice(dirs, func(i, j int) bool { return Major(dirs[i]) > Major(dirs[j]) })
	for _, d := range dirs {
		if hasServer(d) {
			return d, nil
		}
	}
	if p, err := lookPath("postgres"); err == nil && hasServer(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", ErrNotFound
}

// Major returns the major version a Debian bin directory belongs to
// (/usr/lib/postgresql/15/bin is 15), or 0 when the path does not say.
func Major(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func hasServer(dir string) bool {
	return isExec(filepath.Join(dir, "postgres")) && isExec(filepath.Join(dir, "initdb"))
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// SystemUser returns the credential to run the server programs with: nil
// (the current user) when not root, and the postgres system user's when
// root.
func SystemUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	return lookupCredential("postgres")
}

func lookupCredential(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoSystemUser, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("pgbin: user %s has a uid or gid that is not a number: %s/%s", name, u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}
