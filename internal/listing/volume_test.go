package listing_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/listing"
)

func TestWalkVolume(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, rel := range []string{"tree/d0/f000.txt", "tree/d1/f001.txt", "tree/d2/f002.txt", "tree/d0/f003.txt"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(rel)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, rel), []byte(rel), 0o644))
	}
	outside := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("x"), 0o644))
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "tree/escape")))
	require.NoError(t, os.Symlink("d0/f000.txt", filepath.Join(dir, "tree/link")))
	require.NoError(t, os.Symlink("d1", filepath.Join(dir, "tree/dirlink")))
	require.NoError(t, os.Symlink("nothing", filepath.Join(dir, "tree/dangling")))
	root, err := os.OpenRoot(dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = root.Close() })

	var got []string
	skipped := map[string]string{}
	for it, err := range listing.WalkVolume(root, "tree/", func(p, reason string) { skipped[p] = reason }) {
		if err != nil {
			require.ErrorIs(t, err, client.ErrInvalid)
			got = append(got, "ERR "+err.Error())
			continue
		}
		got = append(got, it.Source+" -> "+it.Key)
		require.Regexp(t, `^file:\d+:\d+:\d+:\d+$`, it.Fingerprint)
	}
	require.Equal(t, []string{
		"tree/d0/f000.txt -> d0/f000.txt", "tree/d0/f003.txt -> d0/f003.txt", "tree/d1/f001.txt -> d1/f001.txt",
		"tree/d2/f002.txt -> d2/f002.txt", "ERR tree/escape: symlink leads outside the volume root", "tree/link -> link",
	}, got)
	require.Equal(t, map[string]string{"tree/dangling": "dangling symlink", "tree/dirlink": "symlink to a directory (not followed)"}, skipped)

	for _, bad := range []string{"../x", "/abs"} {
		for _, err := range listing.WalkVolume(root, bad, nil) {
			require.ErrorIs(t, err, client.ErrInvalid, bad)
		}
	}
}
