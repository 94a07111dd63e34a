package source_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/source"
)

func newVolume(t *testing.T) (*source.Volume, string) {
	t.Helper()
	dir := t.TempDir()
	v, err := source.OpenVolume(dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = v.Close() })
	return v, dir
}

func TestVolumeReadsRanges(t *testing.T) {
	t.Parallel()
	v, dir := newVolume(t)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "a/b"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a/b/f.bin"), []byte("0123456789"), 0o644))
	ctx := t.Context()

	info, err := v.Stat(ctx, "a/b/f.bin")
	require.NoError(t, err)
	require.EqualValues(t, 10, info.Size)

	buf := make([]byte, 4)
	require.NoError(t, v.ReadAt(ctx, "./a/b/f.bin", info, 3, buf))
	require.Equal(t, "3456", string(buf))

	require.ErrorIs(t, v.ReadAt(ctx, "a/b/f.bin", info, 8, buf), source.ErrShort)
}

func TestVolumeRefusesBadPaths(t *testing.T) {
	t.Parallel()
	v, dir := newVolume(t)
	outside := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("x"), 0o644))
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "escape")))
	require.NoError(t, os.Symlink("../", filepath.Join(dir, "up")))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "dir"), 0o755))
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ok"), []byte("x"), 0o644))
	require.NoError(t, os.Symlink("ok", filepath.Join(dir, "link-inside")))

	cases := []struct {
		src     string
		want    error
		message string
	}{
		{"../etc/passwd", source.ErrInvalid, "contains '..'"},
		{"a/../../x", source.ErrInvalid, "contains '..'"},
		{"/etc/passwd", source.ErrInvalid, "is absolute"},
		{filepath.Join(outside, "secret"), source.ErrInvalid, "is absolute"},
		{"", source.ErrInvalid, "empty path"},
		{"a//b", source.ErrInvalid, "not a clean relative path"},
		{"escape", source.ErrInvalid, "escapes the volume root"},
		{"up/" + filepath.Base(outside) + "/secret", source.ErrInvalid, "escapes the volume root"},
		{"missing", source.ErrNotFound, "no such file"},
		{"dir", source.ErrNotRegular, "is a directory"},
		{"fifo", source.ErrNotRegular, "is a named pipe"},
	}
	for _, c := range cases {
		_, err := v.Stat(t.Context(), c.src)
		require.ErrorIs(t, err, c.want, c.src)
		require.Contains(t, err.Error(), c.message, c.src)
		require.True(t, source.Permanent(err), c.src)
	}

	_, err := v.Stat(t.Context(), "link-inside")
	require.NoError(t, err, "a symlink that stays inside the root is fine")
}

func TestVolumeDetectsChange(t *testing.T) {
	t.Parallel()
	v, dir := newVolume(t)
	path := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("a", 100)), 0o644))
	ctx := t.Context()
	info, err := v.Stat(ctx, "f")
	require.NoError(t, err)

	// Same size, new content and modification time.
	require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("b", 100)), 0o644))
	require.NoError(t, os.Chtimes(path, time.Now(), time.Now().Add(time.Second)))
	err = v.ReadAt(ctx, "f", info, 0, make([]byte, 10))
	require.ErrorIs(t, err, source.ErrChanged)
	require.Contains(t, err.Error(), "changed since the upload was planned")
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "/abs", "./a", "a/./b", "a/..", "..", "a\x00b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		clean, err := source.CleanPath(s)
		if err != nil {
			return
		}
		if strings.HasPrefix(clean, "/") || clean == ".." || strings.HasPrefix(clean, "../") ||
			strings.Contains(clean, "/../") || strings.HasSuffix(clean, "/..") {
			t.Fatalf("CleanPath(%q) = %q escapes the root", s, clean)
		}
	})
}

// A file replaced by another of the same size whose mtime is put back (rename over it, or
// rewrite in place then touch -d) is a changed source: the inode or ctime tells.
func TestVolumeSameSizeReplaceKeepingMtimeIsChanged(t *testing.T) {
	t.Parallel()
	v, dir := newVolume(t)
	path := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(path, []byte("0123456789"), 0o644))
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	require.NoError(t, os.Chtimes(path, mtime, mtime))
	ctx := t.Context()
	info, err := v.Stat(ctx, "f")
	require.NoError(t, err)
	require.NoError(t, v.ReadAt(ctx, "f", info, 0, make([]byte, 10)), "unchanged file reads")

	t.Run("renamed over", func(t *testing.T) {
		tmp := filepath.Join(dir, "f.new")
		require.NoError(t, os.WriteFile(tmp, []byte("abcdefghij"), 0o644))
		require.NoError(t, os.Chtimes(tmp, mtime, mtime))
		require.NoError(t, os.Rename(tmp, path))
		require.ErrorIs(t, v.ReadAt(ctx, "f", info, 0, make([]byte, 10)), source.ErrChanged)
	})
	t.Run("rewritten in place", func(t *testing.T) {
		info, err := v.Stat(ctx, "f")
		require.NoError(t, err)
		// The ctime has a clock tick's resolution: wait until a write is sure to move it.
		deadline := time.Now().Add(10 * time.Second)
		for {
			require.NoError(t, os.WriteFile(path, []byte("ABCDEFGHIJ"), 0o644))
			require.NoError(t, os.Chtimes(path, mtime, mtime))
			if now, err := v.Stat(ctx, "f"); err == nil && now.Fingerprint != info.Fingerprint {
				break
			}
			require.True(t, time.Now().Before(deadline), "waited 10s for an in-place rewrite to change the fingerprint")
			time.Sleep(10 * time.Millisecond)
		}
		require.ErrorIs(t, v.ReadAt(ctx, "f", info, 0, make([]byte, 10)), source.ErrChanged)
	})
}

// An upload planned by a worker before the fingerprint had the inode and ctime still reads.
func TestVolumeAcceptsLegacyFingerprint(t *testing.T) {
	t.Parallel()
	v, dir := newVolume(t)
	path := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(path, []byte("0123456789"), 0o644))
	st, err := os.Stat(path)
	require.NoError(t, err)
	legacy := source.Info{Size: 10, Fingerprint: fmt.Sprintf("file:%d:%d", st.Size(), st.ModTime().UnixNano())}
	require.NoError(t, v.ReadAt(t.Context(), "f", legacy, 0, make([]byte, 10)))
}
