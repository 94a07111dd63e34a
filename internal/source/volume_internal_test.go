package source

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A named pipe swapped in after the path was checked must not block the open (there is no
// writer, so a blocking open would hang forever): it is refused as not a regular file.
func TestVolumeFIFOSwappedInAfterStatDoesNotBlock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	v, err := OpenVolume(dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = v.Close() })
	path := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(path, []byte("0123456789"), 0o644))
	info, err := v.Stat(t.Context(), "f")
	require.NoError(t, err)

	var swapErr error // set on ReadAt's goroutine, read after it is done
	v.beforeOpen = func(string) {
		swapErr = errors.Join(os.Remove(path), syscall.Mkfifo(path, 0o644))
	}
	done := make(chan error, 1)
	go func() { done <- v.ReadAt(t.Context(), "f", info, 0, make([]byte, 4)) }()
	select {
	case err := <-done:
		require.NoError(t, swapErr, "swapping the FIFO in")
		require.ErrorIs(t, err, ErrNotRegular)
	case <-time.After(30 * time.Second):
		// Unblock the open so the goroutine ends, then fail.
		f, _ := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if f != nil {
			_ = f.Close()
		}
		<-done
		t.Fatal("waited 30s for ReadAt of a FIFO swapped in after the check: the open blocked")
	}
}

// stuckReader blocks every read until release is closed.
type stuckReader struct{ release chan struct{} }

func (r stuckReader) ReadAt(p []byte, _ int64) (int, error) {
	<-r.release
	return 0, errors.New("released")
}

// A read that never returns (a hung NFS server) must not keep the task: readAtContext returns
// when ctx ends, and leaves buf alone afterwards.
func TestVolumeStuckReadHonoursContext(t *testing.T) {
	t.Parallel()
	r := stuckReader{release: make(chan struct{})}
	defer close(r.release)
	ctx, cancel := context.WithCancel(t.Context())
	buf := make([]byte, 3*volumeChunk)
	done := make(chan error, 1)
	go func() { done <- readAtContext(ctx, r, buf, 0) }()
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(30 * time.Second):
		t.Fatal("waited 30s for a stuck read to return after its context was cancelled")
	}
}

// Chunked reads put every byte where it belongs, including a short last chunk.
func TestVolumeReadAtContextChunks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := make([]byte, 2*volumeChunk+123)
	for i := range data {
		data[i] = byte(i * 7)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f"), data, 0o644))
	f, err := os.Open(filepath.Join(dir, "f"))
	require.NoError(t, err)
	defer f.Close()
	buf := make([]byte, len(data)-10)
	require.NoError(t, readAtContext(t.Context(), f, buf, 10))
	require.Equal(t, data[10:], buf)
	require.Error(t, readAtContext(t.Context(), f, make([]byte, 100), int64(len(data)-50)), "short read")
}
