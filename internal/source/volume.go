package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// CleanPath checks that src names a file relative to the volume root and returns it in
// canonical form. It rejects absolute paths, '..' elements, empty elements and NUL bytes with
// an error that says why; it does not touch the file system.
func CleanPath(src string) (string, error) {
	switch {
	case src == "":
		return "", fmt.Errorf("source: empty path: %w", ErrInvalid)
	case strings.HasPrefix(src, "/"):
		return "", fmt.Errorf("source: %q is absolute; paths are relative to the volume root: %w", src, ErrInvalid)
	case strings.ContainsRune(src, 0):
		return "", fmt.Errorf("source: %q contains a NUL byte: %w", src, ErrInvalid)
	}
	clean := strings.TrimPrefix(src, "./")
	for _, elem := range strings.Split(clean, "/") {
		if elem == ".." {
			return "", fmt.Errorf("source: %q contains '..'; paths must stay inside the volume root: %w", src, ErrInvalid)
		}
	}
	if !fs.ValidPath(clean) {
		return "", fmt.Errorf("source: %q is not a clean relative path (no '.', '..' or empty elements): %w", src, ErrInvalid)
	}
	return clean, nil
}

// Volume reads files below one directory through os.Root, so no path, '..' or symlink can
// reach outside it.
type Volume struct {
	root *os.Root
}

var _ Reader = (*Volume)(nil)

// OpenVolume opens the volume rooted at dir.
func OpenVolume(dir string) (*Volume, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("source: open volume root: %w", err)
	}
	return &Volume{root: root}, nil
}

// Close releases the volume root.
func (v *Volume) Close() error { return v.root.Close() }

// Stat returns the file's size and its fingerprint (size and modification time).
func (v *Volume) Stat(_ context.Context, src string) (Info, error) {
	f, err := v.open(src)
	if err != nil {
		return Info{}, err
	}
	defer f.Close()
	return fileInfo(f, src)
}

// ReadAt fills buf from offset off. It checks the fingerprint before and after reading, so a
// file written to while it is read fails with ErrChanged.
func (v *Volume) ReadAt(_ context.Context, src string, want Info, off int64, buf []byte) error {
	f, err := v.open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := checkUnchanged(f, src, want); err != nil {
		return err
	}
	if _, err := f.ReadAt(buf, off); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("source: %s: read %d bytes at %d: %w", src, len(buf), off, ErrShort)
		}
		return fmt.Errorf("source: %s: read: %w", src, err)
	}
	return checkUnchanged(f, src, want)
}

func (v *Volume) open(src string) (*os.File, error) {
	clean, err := CleanPath(src)
	if err != nil {
		return nil, err
	}
	// Stat before opening: opening a named pipe would block until a writer appears.
	st, err := v.root.Stat(clean)
	if err != nil {
		return nil, rootError(src, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("source: %s is a %s, want a regular file: %w", src, FileKind(st.Mode()), ErrNotRegular)
	}
	f, err := v.root.Open(clean)
	if err != nil {
		return nil, rootError(src, err)
	}
	return f, nil
}

func rootError(src string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("source: %s: no such file on the volume: %w", src, ErrNotFound)
	case strings.Contains(err.Error(), "escapes"):
		// os.Root refuses symlinks (and other paths) that lead outside the root; the error
		// it returns for that is not exported.
		return fmt.Errorf("source: %s: path escapes the volume root: %w", src, ErrInvalid)
	}
	return fmt.Errorf("source: %s: %w", src, err)
}

func fileInfo(f *os.File, src string) (Info, error) {
	st, err := f.Stat()
	if err != nil {
		return Info{}, fmt.Errorf("source: %s: stat: %w", src, err)
	}
	if !st.Mode().IsRegular() {
		return Info{}, fmt.Errorf("source: %s is a %s, want a regular file: %w", src, FileKind(st.Mode()), ErrNotRegular)
	}
	return Info{
		Size:        st.Size(),
		Fingerprint: fmt.Sprintf("file:%d:%d", st.Size(), st.ModTime().UnixNano()),
	}, nil
}

func checkUnchanged(f *os.File, src string, want Info) error {
	got, err := fileInfo(f, src)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("source: %s changed since the upload was planned (was %s, now %s): %w",
			src, want.Fingerprint, got.Fingerprint, ErrChanged)
	}
	return nil
}

// FileKind names what a non-regular file is, for messages ("directory", "named pipe", …).
func FileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}
