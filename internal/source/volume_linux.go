package source

import (
	"io/fs"
	"syscall"
)

// inodeAndCtime returns a file's inode number and status-change time (ns) where the platform
// has them.
func inodeAndCtime(st fs.FileInfo) (uint64, int64) {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0
	}
	return sys.Ino, sys.Ctim.Nano()
}
