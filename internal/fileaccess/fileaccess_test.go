package fileaccess

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/carto-setup/carto-setup/internal/testenv"
	"golang.org/x/sys/unix"
)

// asUser runs cat on path as uid:gid with no supplementary group, the way
// a container process runs, and reports whether it could read the file.
func asUser(t *testing.T, uid, gid int, path string) (bool, string) {
	t.Helper()
	cat := testenv.LookPath(t, "cat", "apt-get install coreutils")
	cmd := exec.Command(cat, path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	return err == nil, string(out)
}

// tree returns a directory that every uid may enter down to it, with a
// certs/ directory holding a private key, both owner-only.
func tree(t *testing.T) (certs, key string) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root", "run the tests as root (as CI does): they read files as other uids")
	}
	dir := t.TempDir()
	for p := dir; p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	certs = filepath.Join(dir, "certs")
	if err := os.Mkdir(certs, 0o700); err != nil {
		t.Fatal(err)
	}
	key = filepath.Join(certs, "carto-router.key")
	if err := os.WriteFile(key, []byte("-----BEGIN PRIVATE KEY-----\nsecret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return certs, key
}

// TestGrantACL gives the router's uid read access to its private key and
// checks with real processes that exactly that uid can read it: not an API
// uid, not an unrelated one, not the owner's group.
func TestGrantACL(t *testing.T) {
	certs, key := tree(t)
	var g Granter
	if m, err := g.Grant(certs, true, []User{{101, 101}, {1000, 1000}, {0, 0}}); err != nil || m != ACL {
		t.Fatalf("Grant(certs) = %s, %v", m, err)
	}
	if m, err := g.Grant(key, false, []User{{101, 101}}); err != nil || m != ACL {
		t.Fatalf("Grant(key) = %s, %v", m, err)
	}
	if ok, out := asUser(t, 101, 101, key); !ok {
		t.Errorf("uid 101 cannot read the key it was given: %s", out)
	}
	for _, u := range []User{{1000, 1000}, {4242, 4242}, {4243, 0}} {
		if ok, _ := asUser(t, u.UID, u.GID, key); ok {
			t.Errorf("uid %d gid %d can read the private key", u.UID, u.GID)
		}
	}
	if r, err := Readers(key); err != nil || !slices.Equal(r, []int{101}) {
		t.Errorf("Readers(key) = %v, %v; want [101]", r, err)
	}
	if r, err := Readers(certs); err != nil || !slices.Equal(r, []int{101, 1000}) {
		t.Errorf("Readers(certs) = %v, %v; want [101 1000] (root needs no entry)", r, err)
	}
	st, _ := os.Stat(key)
	if st.Mode().Perm() != 0o640 {
		t.Errorf("key mode %v, want 0640 (group bits are the ACL mask)", st.Mode().Perm())
	}
	// The directory may be entered, not listed, by the readers.
	ls := exec.Command("ls", certs)
	ls.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1000, Gid: 1000, Groups: []uint32{}}}
	if err := ls.Run(); err == nil {
		t.Error("uid 1000 can list certs/")
	}

	// Granting again changes nothing, not even the inode's ctime.
	before := ctime(t, key)
	if m, err := g.Grant(key, false, []User{{101, 101}}); err != nil || m != ACL {
		t.Fatalf("second Grant = %s, %v", m, err)
	}
	if ctime(t, key) != before {
		t.Error("a second Grant with the same users rewrote the ACL")
	}

	// No reader left: owner-only again, ACL gone.
	if m, err := g.Grant(key, false, nil); err != nil || m != OwnerOnly {
		t.Fatalf("Grant(no users) = %s, %v", m, err)
	}
	if ok, _ := asUser(t, 101, 101, key); ok {
		t.Error("uid 101 still reads the key after its access was taken away")
	}
	if r, _ := Readers(key); r != nil {
		t.Errorf("Readers after owner-only = %v", r)
	}
	if st, _ := os.Stat(key); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
}

func ctime(t *testing.T, path string) unix.Timespec {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ctim
}

// TestGrantGroupFallback plays a filesystem that refuses ACLs: the file
// takes the container user's group and mode 0640, so that user reads it
// and an unrelated uid does not.
func TestGrantGroupFallback(t *testing.T) {
	certs, key := tree(t)
	g := Granter{SetACL: func(string, []byte) error { return unix.EOPNOTSUPP }}
	if m, err := g.Grant(certs, true, []User{{101, 101}, {1000, 1000}}); err != nil || m != Search {
		t.Fatalf("Grant(certs) = %s, %v; want search", m, err)
	}
	if st, _ := os.Stat(certs); st.Mode().Perm() != 0o711 {
		t.Errorf("certs mode %v, want 0711", st.Mode().Perm())
	}
	if m, err := g.Grant(key, false, []User{{101, 101}}); err != nil || m != Group {
		t.Fatalf("Grant(key) = %s, %v; want group", m, err)
	}
	if ok, out := asUser(t, 101, 101, key); !ok {
		t.Errorf("uid 101 cannot read the key: %s", out)
	}
	if ok, _ := asUser(t, 4242, 4242, key); ok {
		t.Error("an unrelated uid reads the key")
	}
	if _, err := g.Grant(key, false, []User{{101, 101}, {1000, 1000}}); err == nil {
		t.Error("Grant gave two groups' users one file without ACLs")
	}
	denied := Granter{SetACL: g.SetACL, Chown: func(string, int, int) error { return os.ErrPermission }}
	os.Chown(key, 0, 0)
	_, err := denied.Grant(key, false, []User{{1000, 1000}})
	if err == nil || !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), "member of that group") {
		t.Errorf("Grant without the right to chown = %v", err)
	}
}
