package app_test

import (
	"io/fs"
	"syscall"
)

// inode returns a file's inode number (0 where the system has none).
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
