package source_test

import (
	"context"
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
	ctx := context.Background()

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
		_, err := v.Stat(context.Background(), c.src)
		require.ErrorIs(t, err, c.want, c.src)
		require.Contains(t, err.Error(), c.message, c.src)
		require.True(t, source.Permanent(err), c.src)
	}

	_, err := v.Stat(context.Background(), "link-inside")
	require.NoError(t, err, "a symlink that stays inside the root is fine")
}

func TestVolumeDetectsChange(t *testing.T) {
	t.Parallel()
	v, dir := newVolume(t)
	path := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("a", 100)), 0o644))
	ctx := context.Background()
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
