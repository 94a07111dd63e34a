package state_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/state"
)

// newMigration creates a sealed migration of n planned uploads with the given controls.
func (b bundle) newMigration(t *testing.T, n int, c state.Controls) (string, []state.UploadID) {
	t.Helper()
	mid := state.NewMigrationID()
	_, err := b.store.CreateMigration(b.ctx, state.NewMigration{ID: mid, Bucket: "bkt", Queue: "default"})
	require.NoError(t, err)
	require.NoError(t, b.store.Configure(b.ctx, mid, c))
	ids := make([]state.UploadID, n)
	for i := range ids {
		ids[i] = state.DeriveUploadID(mid, "bkt", fmt.Sprintf("k%d", i))
		_, err := b.store.CreateUpload(b.ctx, state.NewUpload{ID: ids[i], Source: "s", Bucket: "bkt", Key: fmt.Sprintf("k%d", i)})
		require.NoError(t, err)
	}
	require.NoError(t, b.store.SealMigration(b.ctx, mid))
	return mid, ids
}

// The fail transition that passes --max-failures N pauses the migration in the same script,
// naming the threshold; failures up to N do not; the transition that finishes the migration
// says so.
func TestMaxFailuresCountPausesWithTheFailure(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mid, ids := b.newMigration(t, 4, state.Controls{MaxFailures: 2})
	for i, id := range ids[:3] {
		out, err := b.store.Fail(b.ctx, id, "boom")
		require.NoError(t, err)
		require.Equal(t, state.ResultOK, out.Result)
		require.False(t, out.MigrationFinished)
		p, err := b.store.MigrationPaused(b.ctx, mid)
		require.NoError(t, err)
		require.Equal(t, i == 2, p.Paused, "paused after failure %d of a limit of 2: %v", i+1, p.Paused)
		if p.Paused {
			require.Equal(t, "max-failures: 3 uploads failed, more than 2", p.Reason)
		}
	}
	out, err := b.store.Fail(b.ctx, ids[3], "boom")
	require.NoError(t, err)
	require.True(t, out.MigrationFinished, "the last terminal transition finishes the migration")

	// Un-pausing keeps no reason; pausing again keeps the first reason of that pause.
	changed, err := b.store.UnpauseMigration(b.ctx, mid)
	require.NoError(t, err)
	require.True(t, changed)
	changed, err = b.store.UnpauseMigration(b.ctx, mid)
	require.NoError(t, err)
	require.False(t, changed)
	_, err = b.store.PauseMigration(b.ctx, mid, "first")
	require.NoError(t, err)
	changed, err = b.store.PauseMigration(b.ctx, mid, "second")
	require.NoError(t, err)
	require.False(t, changed)
	m, err := b.store.GetMigration(b.ctx, mid)
	require.NoError(t, err)
	require.Equal(t, "first", m.Pause.Reason)
	require.Equal(t, int64(2), m.Controls.MaxFailures)

	_, err = b.store.PauseMigration(b.ctx, "m-nosuchmigration", "x")
	require.ErrorIs(t, err, state.ErrNotFound)
	require.ErrorIs(t, b.store.Configure(b.ctx, "m-nosuchmigration", state.Controls{MaxFailures: 1}), state.ErrNotFound)
	keys, err := b.rdb.Keys(b.ctx, "partflow:{m-nosuchmigration}*").Result()
	require.NoError(t, err)
	require.Empty(t, keys, "nothing is created for a migration that does not exist")
}

// The bandwidth buckets (fleet-wide and a migration's) expire once idle, and the uploads
// index iterator pages through every upload.
func TestBandwidthBucketsExpireAndUploadsIterate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mid, ids := b.newMigration(t, 1203, state.Controls{})
	seen := map[state.UploadID]bool{}
	for u, err := range b.store.Uploads(b.ctx, mid) {
		require.NoError(t, err)
		require.False(t, seen[u.ID], "%s yielded twice", u.ID)
		seen[u.ID] = true
	}
	require.Len(t, seen, len(ids), "every upload, over three pages")

	for _, bw := range []*state.Bandwidth{b.store.FleetBandwidth(1 << 20), b.store.MigrationBandwidth(mid, 1<<20)} {
		require.NoError(t, bw.WaitN(b.ctx, 1000))
	}
	for _, key := range []string{"partflow:bandwidth", "partflow:{" + mid + "}:bandwidth"} {
		ttl, err := b.rdb.PTTL(b.ctx, key).Result()
		require.NoError(t, err)
		require.Greater(t, ttl, time.Duration(0), "%s must expire", key)
		require.LessOrEqual(t, ttl, 5*time.Second, "%s", key)
	}
}
