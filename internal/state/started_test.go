package state_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/state"
)

// TestMigrationCountsStartedUploads: an upload counts as started once a start task planned
// it (multipart or single PUT); one that failed before planning never does; a reset takes
// it back.
func TestMigrationCountsStartedUploads(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mid := state.NewMigrationID()
	_, err := b.store.CreateMigration(b.ctx, state.NewMigration{ID: mid, Bucket: "bkt", Queue: "default"})
	require.NoError(t, err)
	ids := map[string]state.UploadID{}
	for _, name := range []string{"multi", "single", "missing"} {
		ids[name] = state.DeriveUploadID(mid, "bkt", name)
		_, err := b.store.CreateUpload(b.ctx, state.NewUpload{ID: ids[name], Source: name, Bucket: "bkt", Key: name})
		require.NoError(t, err)
	}
	require.NoError(t, b.store.SealMigration(b.ctx, mid))
	m, err := b.store.GetMigration(b.ctx, mid)
	require.NoError(t, err)
	require.Zero(t, m.Started)

	out, err := b.store.StartUploading(b.ctx, ids["multi"], 1, state.UploadPlan{Size: 20 << 20, Fingerprint: "fp",
		PartSize: 10 << 20, Parts: 2, S3UploadID: "s3"})
	require.NoError(t, err)
	require.Equal(t, state.ResultOK, out.Result)
	_, err = b.store.CompleteSingle(b.ctx, ids["single"], 1, state.UploadPlan{Size: 7, Fingerprint: "fp", PartSize: 16, Parts: 1}, "etag")
	require.NoError(t, err)
	_, err = b.store.Fail(b.ctx, ids["missing"], "no such file")
	require.NoError(t, err)
	m, err = b.store.GetMigration(b.ctx, mid)
	require.NoError(t, err)
	require.Equal(t, [3]int64{3, 2, 20<<20 + 7}, [3]int64{m.Total, m.Started, m.BytesTotal})

	out, err = b.store.ResetUpload(b.ctx, ids["multi"], out.Version, state.Uploading)
	require.NoError(t, err)
	require.Equal(t, state.ResultOK, out.Result)
	m, err = b.store.GetMigration(b.ctx, mid)
	require.NoError(t, err)
	require.Equal(t, [2]int64{1, 7}, [2]int64{m.Started, m.BytesTotal}, "a reset upload starts over")

	// A record written before the counter existed says it does not know.
	require.NoError(t, b.rdb.HDel(b.ctx, "partflow:{"+mid+"}:migration", "uploads_started").Err())
	m, err = b.store.GetMigration(b.ctx, mid)
	require.NoError(t, err)
	require.EqualValues(t, -1, m.Started)
}
