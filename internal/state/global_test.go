package state_test

import (
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/state"
)

func TestTryLockIsExclusive(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var mu sync.Mutex
	var releases []func()
	var errs []error
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			release, ok, err := b.store.TryLock(b.ctx, "janitor", time.Minute)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				releases = append(releases, release)
			}
		})
	}
	wg.Wait()
	require.Empty(t, errs)
	require.Len(t, releases, 1, "exactly one holder")
	defer releases[0]()

	release, ok, err := b.store.TryLock(b.ctx, "other", time.Minute)
	require.NoError(t, err)
	require.True(t, ok, "locks are per name")
	release()
}

// TestLockIsKeptWhileHeldAndFreedWhenItsHolderDies: a held lock outlives its TTL (its holder
// extends it), and a holder that dies (here: its Redis connection is gone) frees it within the
// TTL.
func TestLockIsKeptWhileHeldAndFreedWhenItsHolderDies(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const ttl = 300 * time.Millisecond
	release, ok, err := b.store.TryLock(b.ctx, "j", ttl)
	require.NoError(t, err)
	require.True(t, ok)
	time.Sleep(4 * ttl) // several TTLs: only the extensions keep it
	_, ok, err = b.store.TryLock(b.ctx, "j", ttl)
	require.NoError(t, err)
	require.False(t, ok, "a held lock must not lapse")
	release()

	// A holder on its own connection, which then goes away as a killed process's would.
	dying := redis.NewClient(&redis.Options{Addr: b.rdb.Options().Addr})
	store, err := state.New(dying, state.Config{Retention: time.Hour})
	require.NoError(t, err)
	gone, ok, err := store.TryLock(b.ctx, "j", ttl)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, dying.Close())
	defer gone()
	require.Eventually(t, func() bool {
		r, ok, err := b.store.TryLock(b.ctx, "j", ttl)
		if ok {
			r()
		}
		return err == nil && ok
	}, 10*ttl, ttl/10, "waiting for a dead holder's lock to lapse")
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
