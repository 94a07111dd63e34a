package source_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/source"
)

func TestMuxDispatchesBySourceForm(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	v, dir := newVolume(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f"), []byte("volume!"), 0o644))
	o := newOrigin(t, 33)
	urls := newReader(t, loopbackConfig())

	both := source.Mux{Volume: v, URL: urls}
	info, err := both.Stat(ctx, "f")
	require.NoError(t, err)
	require.EqualValues(t, 7, info.Size)
	buf := make([]byte, 7)
	require.NoError(t, both.ReadAt(ctx, "f", info, 0, buf))
	require.Equal(t, "volume!", string(buf))

	for _, src := range []string{o.URL + "/x", "HTTP" + o.URL[4:] + "/x"} {
		info, err = both.Stat(ctx, src)
		require.NoError(t, err, src)
		require.EqualValues(t, 33, info.Size)
		buf = make([]byte, 3)
		require.NoError(t, both.ReadAt(ctx, src, info, 30, buf), src)
		require.Equal(t, o.data[30:], buf)
	}

	_, err = both.Stat(ctx, "ftp://host/file")
	require.ErrorIs(t, err, source.ErrInvalid)
	require.Contains(t, err.Error(), "only http:// and https://")

	volumeOnly := source.Mux{Volume: v}
	_, err = volumeOnly.Stat(ctx, o.URL+"/x?sig=abc")
	require.ErrorIs(t, err, source.ErrForbidden)
	require.Contains(t, err.Error(), "URL sources are not enabled on this worker: set --allow-url-host")
	require.NotContains(t, err.Error(), "sig=abc")
	require.True(t, source.Permanent(err))
	_, err = volumeOnly.Stat(ctx, "http://u:pw@host/x")
	require.ErrorIs(t, err, source.ErrInvalid, "a bad URL is reported as such, enabled or not")

	urlOnly := source.Mux{URL: urls}
	err = urlOnly.ReadAt(ctx, "f", info, 0, buf)
	require.ErrorIs(t, err, source.ErrForbidden)
	require.Contains(t, err.Error(), "volume sources are not enabled on this worker: set --volume-root")
	_, err = urlOnly.Stat(ctx, "../f")
	require.ErrorIs(t, err, source.ErrInvalid)
	require.Contains(t, err.Error(), "contains '..'")
}
