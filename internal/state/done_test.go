package state_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/state"
)

// TestCompactedUploadsStillAnswer: a completed upload of a fed migration whose key holds a
// tab, a newline and a backslash, in another bucket than the migration's, leaves a done entry
// that splits back exactly; FindUpload answers for it, Uploads (the report's source) lists it
// after the live ones, and the migration still counts it.
func TestCompactedUploadsStillAnswer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mid := b.fedMigration(t)
	odd := "dir\twith tab/new\nline\\back"
	batch := []state.NewUpload{
		{ID: state.DeriveUploadID(mid, "other", odd), Source: "s/odd", Bucket: "other\tb", Key: odd},
		{ID: state.DeriveUploadID(mid, "bkt", "plain"), Source: "s/plain", Bucket: "bkt", Key: "plain"},
		{ID: state.DeriveUploadID(mid, "bkt", "live"), Source: "s/live", Bucket: "bkt", Key: "live"},
	}
	_, err := b.store.FeedBatch(b.ctx, mid, 0, "end", true, batch)
	require.NoError(t, err)
	for i, etag := range []string{`"0123456789abcdef0123456789abcdef"`, `"fedcba9876543210fedcba9876543210-2"`} {
		out, err := b.store.CompleteSingle(b.ctx, batch[i].ID, 1,
			state.UploadPlan{Size: int64(10 + i), Fingerprint: "fp", PartSize: 16, Parts: 1}, etag)
		require.NoError(t, err)
		require.Equal(t, state.ResultOK, out.Result)
	}

	recs, total, err := b.store.DoneRecords(b.ctx, mid, 0, 10)
	require.NoError(t, err)
	require.Equal(t, int64(2), total)
	require.Equal(t, state.DoneRecord{ID: batch[0].ID, Bucket: "other\tb", Key: odd, Size: 10,
		ETag: `"0123456789abcdef0123456789abcdef"`, Duration: recs[0].Duration}, recs[0])
	require.Equal(t, "bkt", recs[1].Bucket, "the migration's bucket")
	require.Equal(t, `"fedcba9876543210fedcba9876543210-2"`, recs[1].ETag)

	u, err := b.store.FindUpload(b.ctx, batch[1].ID)
	require.NoError(t, err, "a compacted upload is found")
	require.Equal(t, state.Completed, u.State)
	require.True(t, u.Compacted)
	require.Equal(t, "plain", u.Key)
	require.Equal(t, int64(11), u.Size)
	live, err := b.store.FindUpload(b.ctx, batch[2].ID)
	require.NoError(t, err)
	require.Equal(t, state.Planned, live.State)
	require.False(t, live.Compacted)
	_, err = b.store.FindUpload(b.ctx, state.DeriveUploadID(mid, "bkt", "never"))
	require.ErrorIs(t, err, state.ErrNotFound)

	var keys []string
	var states []state.State
	for u, err := range b.store.Uploads(b.ctx, mid) {
		require.NoError(t, err)
		keys, states = append(keys, u.Key), append(states, u.State)
	}
	require.Equal(t, []string{"live", odd, "plain"}, keys, "live records first, then the done entries")
	require.Equal(t, []state.State{state.Planned, state.Completed, state.Completed}, states)

	m, err := b.store.GetMigration(b.ctx, mid)
	require.NoError(t, err)
	require.Equal(t, int64(3), m.Total)
	require.Equal(t, int64(2), m.Completed)
	require.Equal(t, int64(21), m.BytesDone)
}

// TestFedUploadDropsItsDestinationKeyOnceWritten: the destination key of a fed migration's
// upload goes when the upload, the destination's newest, gives back its write lease; a put's
// stays for the retention (it orders later uploads of the key).
func TestFedUploadDropsItsDestinationKeyOnceWritten(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mid := b.fedMigration(t)
	_, err := b.store.FeedBatch(b.ctx, mid, 0, "end", true, batchOf(mid, 0, 1))
	require.NoError(t, err)
	fed, err := b.store.GetUpload(b.ctx, batchOf(mid, 0, 1)[0].ID)
	require.NoError(t, err)
	require.True(t, fed.Fed)
	plain, err := b.store.GetUpload(b.ctx, b.newUpload(t))
	require.NoError(t, err)
	require.False(t, plain.Fed)
	plain.Key = "k0-put" // its own destination

	for _, u := range []state.Upload{fed, plain} {
		c, err := b.store.ClaimDestination(b.ctx, u, time.Minute)
		require.NoError(t, err)
		require.Equal(t, state.DestinationOK, c.Result)
	}
	n, err := b.rdb.Keys(b.ctx, "partflow:{dest:*").Result()
	require.NoError(t, err)
	require.Len(t, n, 2)
	for _, u := range []state.Upload{fed, plain} {
		require.NoError(t, b.store.ReleaseDestination(b.ctx, u))
	}
	n, err = b.rdb.Keys(b.ctx, "partflow:{dest:*").Result()
	require.NoError(t, err)
	require.Len(t, n, 1, "only the put's destination key is left")
}
