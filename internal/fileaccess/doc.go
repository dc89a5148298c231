// Package fileaccess gives the users that CARTO's containers run as read
// access to the files carto-setup places in certs/, and nobody else: a
// private key or key.json is never made readable by group or others.
//
// It uses a POSIX access ACL (user:<uid>:r, mask r, group and other none),
// which the file's owner may set without root, and which the kernel
// enforces for bind mounts as for any other access; a container's uid
// gets exactly read access and every other uid on the host none. When the
// filesystem refuses ACLs (EOPNOTSUPP, e.g. some network or FUSE mounts)
// it falls back to the file's group: the file gets the container user's
// primary gid and mode 0640. That is weaker, since every host account in
// that group can read it too, and it needs root or membership of the group
// to set; the caller is told which method each file got. It does no
// container work and does not decide who must read what.
package fileaccess
