package state_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/testenv"
)

// fedMigration creates a fed migration with a window of 10.
func (b bundle) fedMigration(t *testing.T) string {
	t.Helper()
	mid := state.NewMigrationID()
	_, err := b.store.CreateMigration(b.ctx, state.NewMigration{ID: mid, Bucket: "bkt", Queue: "default"})
	require.NoError(t, err)
	spec, err := b.store.SetFeed(b.ctx, mid, state.FeedSpec{Kind: "file", Location: "m.jsonl", Window: 10})
	require.NoError(t, err)
	require.Equal(t, "m.jsonl", spec.Location)
	return mid
}

func batchOf(mid string, from, n int) []state.NewUpload {
	var out []state.NewUpload
	for i := from; i < from+n; i++ {
		k := "k" + strconv.Itoa(i)
		out = append(out, state.NewUpload{ID: state.DeriveUploadID(mid, "bkt", k), Source: k, Bucket: "bkt", Key: k})
	}
	return out
}

// TestFeedBatchMovesTheCheckpointOnce: a batch creates its uploads, counts them, moves the
// checkpoint and lists them to enqueue in one step; the same step run again by a second
// feeder (the same sequence number) changes nothing.
func TestFeedBatchMovesTheCheckpointOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mid := b.fedMigration(t)
	f, err := b.store.ClaimFeed(b.ctx, mid, 1)
	require.NoError(t, err)
	require.Equal(t, int64(0), f.Seq)
	require.Equal(t, "", f.Position)

	n, err := b.store.FeedBatch(b.ctx, mid, f.Seq, "pos-3", false, batchOf(mid, 0, 3))
	require.NoError(t, err)
	require.Equal(t, int64(3), n)
	_, err = b.store.FeedBatch(b.ctx, mid, f.Seq, "pos-3", false, batchOf(mid, 0, 3))
	require.ErrorIs(t, err, state.ErrStale, "the second run of one step")

	pending, err := b.store.FeedPending(b.ctx, mid)
	require.NoError(t, err)
	require.Len(t, pending, 3)
	require.NoError(t, b.store.FeedEnqueued(b.ctx, mid, len(pending)))

	f, err = b.store.ClaimFeed(b.ctx, mid, 2)
	require.NoError(t, err)
	require.Equal(t, int64(1), f.Seq)
	require.Equal(t, "pos-3", f.Position)
	require.Equal(t, int64(3), f.Live)
	_, err = b.store.ClaimFeed(b.ctx, mid, 1)
	require.ErrorIs(t, err, state.ErrStale, "an earlier run after a later one started")

	_, err = b.store.FeedBatch(b.ctx, mid, f.Seq, "end", true, batchOf(mid, 3, 2))
	require.NoError(t, err)
	m, err := b.store.GetMigration(b.ctx, mid)
	require.NoError(t, err)
	require.True(t, m.Sealed, "the last batch seals the migration")
	require.True(t, m.Fed)
	require.Equal(t, int64(5), m.Total)
}

// TestCompletedUploadOfAFedMigrationIsCompacted: completing leaves no upload record and no
// index entry, only a short done entry, and the migration's counters.
func TestCompletedUploadOfAFedMigrationIsCompacted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mid := b.fedMigration(t)
	batch := batchOf(mid, 0, 2)
	_, err := b.store.FeedBatch(b.ctx, mid, 0, "end", true, batch)
	require.NoError(t, err)
	out, err := b.store.CompleteSingle(b.ctx, batch[0].ID, 1,
		state.UploadPlan{Size: 5, Fingerprint: "fp", PartSize: 5, Parts: 1}, `"0123456789abcdef0123456789abcdef"`)
	require.NoError(t, err)
	require.Equal(t, state.ResultOK, out.Result)

	_, err = b.store.GetUpload(b.ctx, batch[0].ID)
	require.ErrorIs(t, err, state.ErrNotFound, "a completed upload keeps no record")
	n, err := b.store.CountMigrationUploads(b.ctx, mid)
	require.NoError(t, err)
	require.Equal(t, int64(1), n, "only the live upload stays in the uploads index")
	recs, total, err := b.store.DoneRecords(b.ctx, mid, 0, 10)
	require.NoError(t, err)
	require.Equal(t, int64(1), total)
	require.Equal(t, "k0", recs[0].Key)
	require.Equal(t, int64(5), recs[0].Size)
	entry, err := b.rdb.LIndex(b.ctx, "partflow:{"+mid+"}:done", 0).Result()
	require.NoError(t, err)
	require.LessOrEqual(t, len(entry), 100, "a compact record is short: %q", entry)
	m, err := b.store.GetMigration(b.ctx, mid)
	require.NoError(t, err)
	require.Equal(t, int64(1), m.Completed)
	require.Equal(t, int64(5), m.BytesDone)
}

// TestFedMigrationKeysHaveABoundedLife: the feed's keys (done list, pending list) expire too.
func TestFedMigrationKeysHaveABoundedLife(t *testing.T) {
	t.Parallel()
	rdb := testenv.RedisClient(t, testenv.Redis(t))
	store, err := state.New(rdb, state.Config{Retention: time.Hour, IdleExpiry: 2 * time.Hour})
	require.NoError(t, err)
	b := bundle{ctx: t.Context(), rdb: rdb, store: store}
	mid := b.fedMigration(t)
	batch := batchOf(mid, 0, 2)
	_, err = store.FeedBatch(b.ctx, mid, 0, "p", false, batch)
	require.NoError(t, err)
	_, err = store.CompleteSingle(b.ctx, batch[0].ID, 1, state.UploadPlan{Size: 5, Fingerprint: "fp", PartSize: 5, Parts: 1}, "e")
	require.NoError(t, err)
	keys, err := rdb.Keys(b.ctx, "partflow:{"+mid+"}:*").Result()
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"migration", "uploads", "live", "done", "feed", "upload:" + batch[1].ID.String()},
		trimTag(mid, keys))
	for _, k := range keys {
		ttl, err := rdb.TTL(b.ctx, k).Result()
		require.NoError(t, err)
		require.Greater(t, ttl, time.Duration(0), "%s must expire", k)
		require.LessOrEqual(t, ttl, 2*time.Hour, "%s", k)
	}
}

func trimTag(mid string, keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k[len("partflow:{"+mid+"}:"):]
	}
	return out
}

// TestFedMigrationMemoryPerUpload measures what an upload of a fed migration costs in Redis
// while in flight (its record, its index entries) and once completed (its done record only),
// from used_memory deltas; it logs the figures and checks that a completed upload costs less
// than an in-flight one by an order of magnitude.
func TestFedMigrationMemoryPerUpload(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mid := b.fedMigration(t)
	const n = 5000
	used := func() int64 {
		m, err := b.store.RedisMemory(b.ctx)
		require.NoError(t, err)
		return m.Used
	}
	var batch []state.NewUpload
	for i := range n {
		k := fmt.Sprintf("photos/2024/IMG_%06d.jpg", i)
		batch = append(batch, state.NewUpload{ID: state.DeriveUploadID(mid, "bkt", k), Source: "src/" + k, Bucket: "bkt", Key: k,
			ContentType: "image/jpeg"})
	}
	before := used()
	for i := 0; i < n; i += 500 {
		_, err := b.store.FeedBatch(b.ctx, mid, int64(i/500), strconv.Itoa(i+500), i+500 >= n, batch[i:i+500])
		require.NoError(t, err)
	}
	require.NoError(t, b.store.FeedEnqueued(b.ctx, mid, n))
	inFlight := used()
	for _, u := range batch {
		out, err := b.store.CompleteSingle(b.ctx, u.ID, 1, state.UploadPlan{Size: 123456, Fingerprint: "123456:1733600000000000000",
			PartSize: 16 << 20, Parts: 1}, `"d41d8cd98f00b204e9800998ecf8427e"`)
		require.NoError(t, err)
		require.Equal(t, state.ResultOK, out.Result)
	}
	done := used()
	perInFlight := float64(inFlight-before) / n
	perDone := float64(done-before) / n
	list, err := b.rdb.MemoryUsage(b.ctx, "partflow:{"+mid+"}:done").Result()
	require.NoError(t, err)
	t.Logf("Redis per upload of a fed migration: %.0f B in flight (planned record + index entries), %.0f B completed (used_memory; the done list's MEMORY USAGE is %.0f B per entry)",
		perInFlight, perDone, float64(list)/n)
	require.Less(t, perDone*5, perInFlight, "a completed upload keeps a small fraction of an in-flight one")
}

// TestFeedBatchOfAnOvertakenRunIsStale: a run that claimed the feed before a later run did
// cannot move the checkpoint any more (the later run's batch then goes through), so the run
// that holds the feed is never left with a stale batch of its own.
func TestFeedBatchOfAnOvertakenRunIsStale(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mid := b.fedMigration(t)
	old, err := b.store.ClaimFeed(b.ctx, mid, 1)
	require.NoError(t, err)
	later, err := b.store.ClaimFeed(b.ctx, mid, 2)
	require.NoError(t, err)
	require.Equal(t, old.Seq, later.Seq)

	_, err = b.store.FeedBatchOfRun(b.ctx, mid, 1, old.Seq, "pos-3", false, batchOf(mid, 0, 3))
	require.ErrorIs(t, err, state.ErrStale, "the overtaken run's batch")
	n, err := b.store.FeedBatchOfRun(b.ctx, mid, 2, later.Seq, "pos-3", false, batchOf(mid, 0, 3))
	require.NoError(t, err, "the run that holds the feed")
	require.Equal(t, int64(3), n)
	m, err := b.store.GetMigration(b.ctx, mid)
	require.NoError(t, err)
	require.Equal(t, int64(3), m.Total)
}

// TestFeedForgetIsSafeForOverlappingRuns: two feeder runs that enqueued the same batch both
// forget it, the second after a later batch was listed: the later batch stays to enqueue.
func TestFeedForgetIsSafeForOverlappingRuns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mid := b.fedMigration(t)
	f, err := b.store.ClaimFeed(b.ctx, mid, 1)
	require.NoError(t, err)
	_, err = b.store.FeedBatch(b.ctx, mid, f.Seq, "pos-3", false, batchOf(mid, 0, 3))
	require.NoError(t, err)
	first, err := b.store.FeedPending(b.ctx, mid)
	require.NoError(t, err)
	require.Len(t, first, 3)
	require.NoError(t, b.store.FeedForget(b.ctx, mid, first))
	_, err = b.store.FeedBatch(b.ctx, mid, f.Seq+1, "pos-5", false, batchOf(mid, 3, 2))
	require.NoError(t, err)
	require.NoError(t, b.store.FeedForget(b.ctx, mid, first), "a second copy forgets the first batch late")
	left, err := b.store.FeedPending(b.ctx, mid)
	require.NoError(t, err)
	require.Len(t, left, 2, "the later batch is still to enqueue")
}
