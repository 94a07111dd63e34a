package state_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/state"
)

// TestCompleteBatchCountsOnceAndLeavesMovedUploads: one script completes the planned uploads of
// a batch as CompleteSingle would (record, counters, expiry, live index); an upload cancelled
// meanwhile is left alone; running the same batch again (a redelivered task) counts nothing twice.
func TestCompleteBatchCountsOnceAndLeavesMovedUploads(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mid := state.NewMigrationID()
	_, err := b.store.CreateMigration(b.ctx, state.NewMigration{ID: mid, Bucket: "bkt", Queue: "default"})
	require.NoError(t, err)
	var ids []state.UploadID
	for _, key := range []string{"a", "b", "c"} {
		id := state.DeriveUploadID(mid, "bkt", key)
		_, err := b.store.CreateUpload(b.ctx, state.NewUpload{ID: id, Source: key, Bucket: "bkt", Key: key})
		require.NoError(t, err)
		ids = append(ids, id)
	}
	require.NoError(t, b.store.SealMigration(b.ctx, mid))
	n, err := b.store.AssignBatch(b.ctx, "batch-1", ids)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	_, err = b.store.Transition(b.ctx, ids[1], state.AnyVersion, []state.State{state.Planned}, state.Cancelled)
	require.NoError(t, err)

	done := make([]state.SingleCompletion, len(ids))
	for i, id := range ids {
		done[i] = state.SingleCompletion{ID: id, Version: 1, ETag: "etag-" + id.Name,
			Plan: state.UploadPlan{Size: int64(10 * (i + 1)), Fingerprint: "fp", PartSize: 100, Parts: 1}}
	}
	for run := range 2 {
		out, err := b.store.CompleteBatch(b.ctx, done)
		require.NoError(t, err)
		if run == 0 {
			require.Equal(t, []state.Result{state.ResultOK, state.ResultStale, state.ResultOK},
				[]state.Result{out[0].Result, out[1].Result, out[2].Result})
		} else {
			require.Equal(t, []state.Result{state.ResultStale, state.ResultStale, state.ResultStale},
				[]state.Result{out[0].Result, out[1].Result, out[2].Result}, "a rerun finds every version moved on")
		}
		m, err := b.store.GetMigration(b.ctx, mid)
		require.NoError(t, err)
		require.Equal(t, [6]int64{3, 2, 1, 2, 40, 40}, [6]int64{m.Total, m.Completed, m.Cancelled, m.Started, m.BytesTotal, m.BytesDone},
			"run %d: total, completed, cancelled, started, bytes total, bytes done", run)
	}
	u, err := b.store.GetUpload(b.ctx, ids[2])
	require.NoError(t, err)
	require.Equal(t, state.Completed, u.State)
	require.Equal(t, [3]int64{30, 1, 30}, [3]int64{u.Size, int64(u.PartsDone), u.BytesDone})
	require.Equal(t, "etag-"+ids[2].Name, u.ETag)
	require.Equal(t, "batch-1", u.Batch)
	require.Equal(t, int64(2), u.Version)
	ttl, err := b.rdb.TTL(b.ctx, "partflow:{"+mid+"}:upload:"+ids[2].String()).Result()
	require.NoError(t, err)
	require.LessOrEqual(t, ttl, time.Hour, "a completed upload expires after the retention")
	live, err := b.rdb.ZCard(b.ctx, "partflow:{"+mid+"}:live").Result()
	require.NoError(t, err)
	require.Zero(t, live, "no upload of the batch is live any more")
	// Every upload of the migration is terminal and it is sealed: it settled to the retention.
	ttl, err = b.rdb.TTL(b.ctx, "partflow:{"+mid+"}:migration").Result()
	require.NoError(t, err)
	require.LessOrEqual(t, ttl, time.Hour)
}

// TestAssignBatchNamesOnlyPlannedUploads: an upload that moved on or expired is not given the
// batch (nor brought back as a bare hash without an expiry).
func TestAssignBatchNamesOnlyPlannedUploads(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newUpload(t)
	gone := state.DeriveUploadID(id.Migration, "bkt", "gone")
	_, err := b.store.CompleteSingle(b.ctx, id, 1, state.UploadPlan{Size: 1, Fingerprint: "fp", PartSize: 5, Parts: 1}, "e")
	require.NoError(t, err)
	n, err := b.store.AssignBatch(b.ctx, "batch-2", []state.UploadID{id, gone})
	require.NoError(t, err)
	require.Zero(t, n)
	exists, err := b.rdb.Exists(b.ctx, "partflow:{"+id.Migration+"}:upload:"+gone.String()).Result()
	require.NoError(t, err)
	require.Zero(t, exists)
	_, err = b.store.AssignBatch(b.ctx, "batch-3", []state.UploadID{id, state.DeriveUploadID("other", "x")})
	require.Error(t, err, "a batch spans one migration")
}

// TestCreateUploadsNamesBatchesOfTheNewOnes: one script creates a migration's uploads, counts
// each once (an upload named twice, or existing already, is not created again), names each
// group's batch after its first new member (a group with one new member gets none: it needs
// its own start task), and gives every record a bounded life.
func TestCreateUploadsNamesBatchesOfTheNewOnes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mid := state.NewMigrationID()
	_, err := b.store.CreateMigration(b.ctx, state.NewMigration{ID: mid, Bucket: "bkt", Queue: "default"})
	require.NoError(t, err)
	up := func(key string, group int) state.NewUpload {
		return state.NewUpload{ID: state.DeriveUploadID(mid, "bkt", key), Source: key, Bucket: "bkt", Key: key,
			BatchGroup: group, Metadata: map[string]string{"k": key}}
	}
	existing, err := b.store.CreateUpload(b.ctx, up("a", 0))
	require.NoError(t, err)
	require.True(t, existing)
	us := []state.NewUpload{up("a", 1), up("b", 1), up("c", 1), up("b", 1), up("d", 2), up("e", 2), up("f", 3), up("g", 0)}
	for run := range 2 {
		got, err := b.store.CreateUploads(b.ctx, us)
		require.NoError(t, err)
		want := []state.Created{{}, {New: true, Batch: us[1].ID.String() + ":batch"}, {New: true, Batch: us[1].ID.String() + ":batch"},
			{}, {New: true, Batch: us[4].ID.String() + ":batch"}, {New: true, Batch: us[4].ID.String() + ":batch"},
			{New: true}, {New: true}}
		if run == 1 {
			want = make([]state.Created, len(us))
		}
		require.Equal(t, want, got, "run %d", run)
		m, err := b.store.GetMigration(b.ctx, mid)
		require.NoError(t, err)
		require.EqualValues(t, 7, m.Total, "run %d: a to g, each once", run)
	}
	u, err := b.store.GetUpload(b.ctx, us[2].ID)
	require.NoError(t, err)
	require.Equal(t, [5]string{string(state.Planned), "c", us[1].ID.String() + ":batch", "c", "1"},
		[5]string{string(u.State), u.Source, u.Batch, u.Metadata["k"], fmt.Sprint(u.Version)})
	f, err := b.store.GetUpload(b.ctx, us[6].ID)
	require.NoError(t, err)
	require.Empty(t, f.Batch, "alone in its group: its own start task")
	keys, err := b.rdb.Keys(b.ctx, "partflow:{"+mid+"}:*").Result()
	require.NoError(t, err)
	for _, k := range keys {
		ttl, err := b.rdb.TTL(b.ctx, k).Result()
		require.NoError(t, err)
		require.Greater(t, ttl, time.Duration(0), "%s must expire", k)
	}

	_, err = b.store.CreateUploads(b.ctx, []state.NewUpload{{ID: state.DeriveUploadID("nope", "bkt", "x"), Bucket: "bkt", Key: "x"}})
	require.ErrorIs(t, err, state.ErrNotFound, "no such migration")
}
