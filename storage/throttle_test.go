package storage

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

func TestThrottledReaderWaitsForTokens(t *testing.T) {
	t.Parallel()
	// 1 byte/s with a 1 KiB burst: the first KiB passes, the second would need ~17 minutes,
	// more than the context allows, so the limiter refuses at once (no clock involved).
	m := &Minio{limiter: rate.NewLimiter(1, 1024)}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	r := m.body(ctx, make([]byte, 4096))

	buf := make([]byte, 4096)
	n, err := r.Read(buf)
	require.NoError(t, err)
	require.Equal(t, 1024, n, "reads are cut to the burst")
	_, err = r.Read(buf)
	require.Error(t, err, "the second KiB must wait for tokens")

	// Still seekable, so minio-go can rewind it for a retry.
	pos, err := r.Seek(0, io.SeekStart)
	require.NoError(t, err)
	require.Zero(t, pos)
}

func TestUnlimitedBodyIsPlain(t *testing.T) {
	t.Parallel()
	r := (&Minio{}).body(t.Context(), []byte("abc"))
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Equal(t, "abc", string(b))
}

// TestBodyIsNotReadAfterItEnded: net/http may read a request body after the call returned;
// once the call has ended the body, reads and seeks fail without touching the bytes, so the
// caller may reuse the buffer.
func TestBodyIsNotReadAfterItEnded(t *testing.T) {
	t.Parallel()
	m := &Minio{}
	b := []byte("hello")
	r := m.body(context.Background(), b)
	buf := make([]byte, 2)
	n, err := r.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "he", string(buf[:n]))
	r.end()
	_, err = r.Read(buf)
	require.ErrorIs(t, err, errBodyEnded)
	_, err = r.Seek(0, io.SeekStart)
	require.ErrorIs(t, err, errBodyEnded)
}
