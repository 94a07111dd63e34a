package state_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/state"
)

func TestTryLockIsExclusive(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var held atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			release, ok, err := b.store.TryLock(b.ctx, "janitor", time.Minute)
			errs <- err
			if ok {
				held.Add(1)
				_ = release
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.EqualValues(t, 1, held.Load(), "exactly one holder")

	_, ok, err := b.store.TryLock(b.ctx, "other", time.Minute)
	require.NoError(t, err)
	require.True(t, ok, "locks are per name")
}

func TestReleasedLockCanBeTakenAgain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	release, ok, err := b.store.TryLock(b.ctx, "x", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	release()
	_, ok, err = b.store.TryLock(b.ctx, "x", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
}

func TestS3UploadOwner(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := state.DeriveUploadID("m", "k")
	note := state.S3Upload{S3UploadID: "s3-1", Upload: id.String(), Bucket: "bkt", Key: "a b/c"}
	require.NoError(t, b.store.RememberS3Upload(b.ctx, note))
	got, ok, err := b.store.S3UploadOwner(b.ctx, "s3-1")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, note, got)

	all, next, err := b.store.ScanS3Uploads(b.ctx, 0, 100)
	require.NoError(t, err)
	require.Zero(t, next)
	require.Equal(t, []state.S3Upload{note}, all)

	require.NoError(t, b.store.ForgetS3Upload(b.ctx, "s3-1"))
	_, ok, err = b.store.S3UploadOwner(b.ctx, "s3-1")
	require.NoError(t, err)
	require.False(t, ok)
}
