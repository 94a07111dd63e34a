// Package listing lists what a migration reads from the volume: the files below a directory,
// walked through os.Root, as migration items. (internal/manifest reads the other listing, a
// JSON Lines manifest.)
package listing

import (
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"strings"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/source"
)

// CleanVolumeDir checks a directory named relative to the volume root ("." or "" for the
// whole volume) and returns it in canonical form.
func CleanVolumeDir(dir string) (string, error) {
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" || dir == "." {
		return ".", nil
	}
	clean, err := source.CleanPath(dir)
	if err != nil {
		return "", fmt.Errorf("%w: %w", client.ErrInvalid, err)
	}
	return clean, nil
}

// WalkVolume yields an item for every regular file below dir (relative to the volume root)
// in lexical order: its source is its path relative to the volume root, its key its path
// relative to dir with '/' separators, its fingerprint its size and modification time (the
// form workers fingerprint files with), its Size its size.
//
// The walk stays inside the root (it reads through os.Root). A symlink is followed when it
// leads to a regular file inside the volume; one that escapes the volume is an invalid item.
// Directories reached through symlinks, dangling symlinks, sockets, pipes and devices are
// passed to skipped (if not nil) with the reason and left out. An unreadable entry is an
// invalid item; an unreadable dir is an error that ends the walk.
//
// Each iteration walks the directory again.
func WalkVolume(root *os.Root, dir string, skipped func(path, reason string)) iter.Seq2[client.MigrationItem, error] {
	return func(yield func(client.MigrationItem, error) bool) {
		dir, err := CleanVolumeDir(dir)
		if err != nil {
			yield(client.MigrationItem{}, err)
			return
		}
		if skipped == nil {
			skipped = func(string, string) {}
		}
		fsys := root.FS()
		walkErr := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if p == dir {
					return err
				}
				if !yield(client.MigrationItem{}, &client.ItemError{Where: p, Err: err}) {
					return fs.SkipAll
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			var info fs.FileInfo
			switch mode := d.Type(); {
			case mode.IsRegular():
				info, err = d.Info()
				if errors.Is(err, fs.ErrNotExist) {
					skipped(p, "removed during the walk")
					return nil
				}
			case mode&fs.ModeSymlink != 0:
				info, err = root.Stat(p)
				switch {
				case errors.Is(err, fs.ErrNotExist):
					skipped(p, "dangling symlink")
					return nil
				case err != nil && strings.Contains(err.Error(), "escapes"):
					err = errors.New("symlink leads outside the volume root")
				case err == nil && info.IsDir():
					skipped(p, "symlink to a directory (not followed)")
					return nil
				case err == nil && !info.Mode().IsRegular():
					skipped(p, "symlink to a special file")
					return nil
				}
			default:
				skipped(p, "not a regular file ("+source.FileKind(mode)+")")
				return nil
			}
			if err != nil {
				if !yield(client.MigrationItem{}, &client.ItemError{Where: p, Err: err}) {
					return fs.SkipAll
				}
				return nil
			}
			key := p
			if dir != "." {
				key = strings.TrimPrefix(p, dir+"/")
			}
			it := client.MigrationItem{Source: p, Key: key, Size: info.Size(), ModTime: info.ModTime(), Where: p,
				Fingerprint: source.FileFingerprint(info)}
			if !yield(it, nil) {
				return fs.SkipAll
			}
			return nil
		})
		if walkErr != nil {
			yield(client.MigrationItem{}, fmt.Errorf("listing: walk %s: %w", dir, walkErr))
		}
	}
}
