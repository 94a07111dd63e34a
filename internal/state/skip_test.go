package state_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/state"
)

func TestCompleteSkippedCountsInMigration(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mid := state.NewMigrationID()
	_, err := b.store.CreateMigration(b.ctx, state.NewMigration{ID: mid, Bucket: "bkt", Queue: "default"})
	require.NoError(t, err)
	skip := state.DeriveUploadID(mid, "bkt", "skip")
	put := state.DeriveUploadID(mid, "bkt", "put")
	for _, id := range []state.UploadID{skip, put} {
		_, err := b.store.CreateUpload(b.ctx, state.NewUpload{ID: id, Source: "s", Bucket: "bkt", Key: id.Name,
			SkipExisting: true})
		require.NoError(t, err)
	}
	require.NoError(t, b.store.SealMigration(b.ctx, mid))

	u, err := b.store.GetUpload(b.ctx, skip)
	require.NoError(t, err)
	require.True(t, u.SkipExisting)
	require.False(t, u.Skipped)
	plan := state.UploadPlan{Size: 10, Fingerprint: "fp", PartSize: 16, Parts: 1}
	out, err := b.store.CompleteSkipped(b.ctx, skip, u.Version, plan, "etag-old")
	require.NoError(t, err)
	require.Equal(t, state.ResultOK, out.Result)
	out, err = b.store.CompleteSkipped(b.ctx, skip, out.Version, plan, "etag-old")
	require.NoError(t, err)
	require.Equal(t, state.ResultWrongState, out.Result, "a completed upload is not skipped twice")

	u, err = b.store.GetUpload(b.ctx, put)
	require.NoError(t, err)
	_, err = b.store.CompleteSingle(b.ctx, put, u.Version, state.UploadPlan{Size: 7, Fingerprint: "fp", PartSize: 16, Parts: 1}, "etag")
	require.NoError(t, err)

	u, err = b.store.GetUpload(b.ctx, skip)
	require.NoError(t, err)
	require.True(t, u.Skipped)
	require.Equal(t, state.Completed, u.State)
	require.Equal(t, "etag-old", u.ETag)
	m, err := b.store.GetMigration(b.ctx, mid)
	require.NoError(t, err)
	require.True(t, m.Finished())
	require.Equal(t, [6]int64{2, 2, 1, 17, 17, 10}, [6]int64{m.Total, m.Completed, m.Skipped, m.BytesTotal, m.BytesDone, m.BytesSkipped})
}
