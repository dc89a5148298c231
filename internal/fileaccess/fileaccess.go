package fileaccess

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"
)

// User is a numeric user and its primary group, as a container runs.
type User struct {
	UID int `json:"uid"`
	GID int `json:"gid"`
}

// Method says how a path was given its access.
type Method string

// The methods: owner-only (no user besides the owner needs access), a
// POSIX ACL naming each user, or the group fallback on a filesystem
// without ACLs (the path's group becomes the users' one primary group; for
// a directory entered by users of several groups, others may search it).
const (
	OwnerOnly Method = "owner-only"
	ACL       Method = "acl"
	Group     Method = "group"
	Search    Method = "search"
)

// Permissions of the owner, and of a reader: read for a file, search
// (enter, not list) for a directory.
const (
	filePerm   = 0o600
	dirPerm    = 0o700
	fileReader = 4
	dirReader  = 1
)

// Granter gives paths their access. The zero value uses the real
// filesystem calls.
type Granter struct {
	// Chown changes a path's owner and group for the group fallback;
	// nil means os.Chown.
	Chown func(path string, uid, gid int) error
	// SetACL writes an access ACL in its xattr form; nil means
	// setxattr(2). Tests replace it to play a filesystem without ACLs.
	SetACL func(path string, xattr []byte) error
}

const aclXattr = "system.posix_acl_access"

// Grant makes path (a directory when dir is true) accessible to its owner
// (read and write, and search for a directory) and to exactly users for
// reading (a directory: searching), and to nobody else. Root, and a user
// whose uid owns the path, need no entry and are left out. With no user
// left the path becomes 0600 (0700) and loses any ACL. A path that already
// has the access is not touched. It returns the method used.
func (g Granter) Grant(path string, dir bool, users []User) (Method, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("fileaccess: %w", err)
	}
	if st.IsDir() != dir {
		return "", fmt.Errorf("fileaccess: %s: directory %v, want %v", path, st.IsDir(), dir)
	}
	owner := -1
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		owner = int(sys.Uid)
	}
	base, reader := fs.FileMode(filePerm), fs.FileMode(fileReader)
	if dir {
		base, reader = dirPerm, dirReader
	}
	var uids []int
	var others []User
	for _, u := range users {
		if u.UID == 0 || u.UID == owner {
			continue
		}
		others = append(others, u)
		if !slices.Contains(uids, u.UID) {
			uids = append(uids, u.UID)
		}
	}
	slices.Sort(uids)

	if len(uids) == 0 {
		if err := removeACL(path); err != nil {
			return "", err
		}
		return OwnerOnly, chmod(path, st, base)
	}
	want := encodeACL(base>>6, reader, uids)
	have, err := getACL(path)
	if err == nil && bytes.Equal(have, want) && st.Mode().Perm() == base|reader<<3 {
		return ACL, nil
	}
	set := g.SetACL
	if set == nil {
		set = func(p string, b []byte) error { return unix.Setxattr(p, aclXattr, b, 0) }
	}
	err = set(path, want)
	if err == nil {
		// The kernel derives the group bits from the mask: 0640 (0710).
		return ACL, nil
	}
	if !errors.Is(err, unix.EOPNOTSUPP) {
		return "", fmt.Errorf("fileaccess: set the ACL of %s: %w", path, err)
	}
	return g.groupFallback(path, st, dir, base, reader, others)
}

// groupFallback is Grant on a filesystem without ACLs.
func (g Granter) groupFallback(path string, st fs.FileInfo, dir bool, base, reader fs.FileMode, users []User) (Method, error) {
	gid := users[0].GID
	one := !slices.ContainsFunc(users, func(u User) bool { return u.GID != gid })
	if !one {
		if !dir {
			return "", fmt.Errorf("fileaccess: %s: the filesystem has no ACLs, and users of several groups must read it; "+
				"put the release directory on a filesystem with ACLs (ext4, xfs)", path)
		}
		return Search, chmod(path, st, base|reader<<3|reader)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); !ok || int(sys.Gid) != gid {
		chown := g.Chown
		if chown == nil {
			chown = os.Chown
		}
		if err := chown(path, -1, gid); err != nil {
			return "", fmt.Errorf("fileaccess: %s: the filesystem has no ACLs and its group cannot be set to %d "+
				"(carto-setup's user must be root or a member of that group): %w", path, gid, err)
		}
	}
	return Group, chmod(path, st, base|reader<<3)
}

func chmod(path string, st fs.FileInfo, perm fs.FileMode) error {
	if st.Mode().Perm() == perm {
		return nil
	}
	if err := os.Chmod(path, perm); err != nil {
		return fmt.Errorf("fileaccess: %w", err)
	}
	return nil
}

// ACL entry tags and the xattr version, from Linux's posix_acl_xattr.h.
const (
	aclVersion  = 2
	tagUserObj  = 0x01
	tagUser     = 0x02
	tagGroupObj = 0x04
	tagMask     = 0x10
	tagOther    = 0x20
	undefinedID = 0xFFFFFFFF
)

// encodeACL builds the xattr of the ACL owner::owner, user:<uid>:reader for
// each uid (sorted), group::---, mask::reader, other::---. The kernel wants
// the entries in tag order, users by uid.
func encodeACL(owner, reader fs.FileMode, uids []int) []byte {
	b := binary.LittleEndian.AppendUint32(nil, aclVersion)
	entry := func(tag uint16, perm fs.FileMode, id uint32) {
		b = binary.LittleEndian.AppendUint16(b, tag)
		b = binary.LittleEndian.AppendUint16(b, uint16(perm))
		b = binary.LittleEndian.AppendUint32(b, id)
	}
	entry(tagUserObj, owner, undefinedID)
	for _, u := range uids {
		entry(tagUser, reader, uint32(u))
	}
	entry(tagGroupObj, 0, undefinedID)
	entry(tagMask, reader, undefinedID)
	entry(tagOther, 0, undefinedID)
	return b
}

// getACL reads the access ACL xattr; a path without one gives nil.
func getACL(path string) ([]byte, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Getxattr(path, aclXattr, buf)
		switch {
		case errors.Is(err, unix.ERANGE):
			buf = make([]byte, 2*len(buf))
			continue
		case errors.Is(err, unix.ENODATA) || errors.Is(err, unix.EOPNOTSUPP):
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("fileaccess: read the ACL of %s: %w", path, err)
		}
		return buf[:n], nil
	}
}

func removeACL(path string) error {
	err := unix.Removexattr(path, aclXattr)
	if err == nil || errors.Is(err, unix.ENODATA) || errors.Is(err, unix.EOPNOTSUPP) {
		return nil
	}
	return fmt.Errorf("fileaccess: remove the ACL of %s: %w", path, err)
}

// Readers returns the uids that path's access ACL names (user:<uid>
// entries with a permission the mask lets through), sorted; nil when it
// has no ACL.
func Readers(path string) ([]int, error) {
	b, err := getACL(path)
	if err != nil || len(b) < 4 {
		return nil, err
	}
	if binary.LittleEndian.Uint32(b) != aclVersion || (len(b)-4)%8 != 0 {
		return nil, fmt.Errorf("fileaccess: %s: unknown ACL format", path)
	}
	mask := uint16(7)
	type ent struct {
		perm uint16
		id   uint32
	}
	var users []ent
	for p := 4; p < len(b); p += 8 {
		tag := binary.LittleEndian.Uint16(b[p:])
		perm := binary.LittleEndian.Uint16(b[p+2:])
		id := binary.LittleEndian.Uint32(b[p+4:])
		switch tag {
		case tagUser:
			users = append(users, ent{perm, id})
		case tagMask:
			mask = perm
		}
	}
	var out []int
	for _, u := range users {
		if u.perm&mask != 0 {
			out = append(out, int(u.id))
		}
	}
	slices.Sort(out)
	return out, nil
}
