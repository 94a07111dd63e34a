//go:build !linux

package source

import "io/fs"

// inodeAndCtime returns zeros where the platform's stat is not read here: the fingerprint is
// then the size and mtime only.
func inodeAndCtime(fs.FileInfo) (uint64, int64) { return 0, 0 }
