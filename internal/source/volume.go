package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
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
	root       *os.Root
	beforeOpen func(path string) // tests swap files here, between the path check and the open
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

// Stat returns the file's size and its fingerprint (size, modification time, inode and
// status-change time, so a same-size replace that keeps the mtime is noticed too).
func (v *Volume) Stat(_ context.Context, src string) (Info, error) {
	f, err := v.open(src)
	if err != nil {
		return Info{}, err
	}
	defer f.Close()
	return fileInfo(f, src)
}

// ReadAt fills buf from offset off. It checks the fingerprint before and after reading, so a
// file written to while it is read fails with ErrChanged. It honours ctx: when ctx ends while
// a read is stuck (a hung NFS server), ReadAt returns at once and buf is no longer written to,
// so the caller may release it (see readAtContext).
func (v *Volume) ReadAt(ctx context.Context, src string, want Info, off int64, buf []byte) error {
	f, err := v.open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := checkUnchanged(f, src, want); err != nil {
		return err
	}
	if err := readAtContext(ctx, f, buf, off); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("source: %s: read %d bytes at %d: %w", src, len(buf), off, ErrShort)
		}
		return fmt.Errorf("source: %s: read: %w", src, err)
	}
	return checkUnchanged(f, src, want)
}

// volumeChunk is how much readAtContext reads at a time.
const volumeChunk = 1 << 20

// readAtContext fills buf from r at off, one chunk at a time, and returns ctx's error as soon
// as ctx ends. The reads run on their own goroutine into a chunk buffer of its own, copied into
// buf here: a read that never returns keeps only that goroutine and its chunk, never buf.
func readAtContext(ctx context.Context, r io.ReaderAt, buf []byte, off int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	type result struct {
		n   int
		err error
	}
	results := make(chan result, 1) // buffered: a reader that comes back late does not block
	next := make(chan struct{})
	chunk := make([]byte, min(len(buf), volumeChunk))
	go func() {
		for done := 0; done < len(buf); {
			n, err := r.ReadAt(chunk[:min(len(chunk), len(buf)-done)], off+int64(done))
			results <- result{n, err}
			if err != nil {
				return
			}
			done += n
			select {
			case <-next:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer close(next)
	for done := 0; done < len(buf); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case res := <-results:
			copy(buf[done:], chunk[:res.n])
			done += res.n
			if res.err != nil && !(errors.Is(res.err, io.EOF) && done == len(buf)) {
				return res.err
			}
			if done < len(buf) {
				next <- struct{}{}
			}
		}
	}
	return nil
}

// open opens a regular file without blocking: O_NONBLOCK keeps a named pipe swapped in after
// any earlier check from blocking the open until a writer appears, and the opened file's own
// mode decides.
func (v *Volume) open(src string) (*os.File, error) {
	clean, err := CleanPath(src)
	if err != nil {
		return nil, err
	}
	if v.beforeOpen != nil {
		v.beforeOpen(clean)
	}
	f, err := v.root.OpenFile(clean, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, rootError(src, err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("source: %s: stat: %w", src, err)
	}
	if !st.Mode().IsRegular() {
		_ = f.Close()
		return nil, fmt.Errorf("source: %s is a %s, want a regular file: %w", src, FileKind(st.Mode()), ErrNotRegular)
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
	return Info{Size: st.Size(), Fingerprint: fileFingerprint(st)}, nil
}

// FileFingerprint is the fingerprint of a volume file as Stat returns it (Volume.Stat and a
// directory walk agree on it).
func FileFingerprint(st fs.FileInfo) string { return fileFingerprint(st) }

// fileFingerprint is "file:<size>:<mtime ns>:<inode>:<ctime ns>". The inode changes when a
// file is replaced by another (rename over it), the ctime whenever its content or inode is
// written to, even if the writer puts the mtime back.
func fileFingerprint(st fs.FileInfo) string {
	ino, ctime := inodeAndCtime(st)
	return fmt.Sprintf("file:%d:%d:%d:%d", st.Size(), st.ModTime().UnixNano(), ino, ctime)
}

// legacyFingerprint is the "file:<size>:<mtime ns>" form of uploads planned before the inode
// and ctime were part of it, so a worker upgrade does not fail them as changed.
func legacyFingerprint(st fs.FileInfo) string {
	return fmt.Sprintf("file:%d:%d", st.Size(), st.ModTime().UnixNano())
}

func checkUnchanged(f *os.File, src string, want Info) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("source: %s: stat: %w", src, err)
	}
	got := Info{Size: st.Size(), Fingerprint: fileFingerprint(st)}
	if strings.Count(want.Fingerprint, ":") == 2 {
		got.Fingerprint = legacyFingerprint(st)
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
