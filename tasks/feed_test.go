package tasks_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/feed"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/tasks"
)

// fedMigration writes n items and migrates them with a window through the client (which
// writes the feed file and enqueues run 1 of the feeder); it returns the migration ID.
func (e *env) fedMigration(t *testing.T, n, window int) string {
	t.Helper()
	root, err := os.OpenRoot(e.dir)
	require.NoError(t, err)
	t.Cleanup(func() { root.Close() })
	var items []client.MigrationItem
	for i := range n {
		name := fmt.Sprintf("f/%03d", i)
		e.writeFile(t, name, 10)
		items = append(items, client.MigrationItem{Source: name, Key: name})
	}
	res, err := e.client.Migrate(e.ctx, client.MigrateRequest{Bucket: e.bucket, Source: "test", Items: client.ItemsOf(items...),
		Window: window, FeedVolume: root})
	require.NoError(t, err)
	require.True(t, res.Fed)
	return res.ID
}

// feeder returns handlers that feed from the env's volume with cfg.
func (e *env) feeder(t *testing.T, cfg tasks.FeedConfig) *tasks.Handlers {
	t.Helper()
	root, err := os.OpenRoot(e.dir)
	require.NoError(t, err)
	t.Cleanup(func() { root.Close() })
	cfg.Listings = feed.Volume{Root: root}
	cfg.Interval, cfg.RunFor = 20*time.Millisecond, 200*time.Millisecond
	h, err := tasks.NewHandlers(tasks.Config{Store: e.store, S3: e.storage, Sources: e.volume, Queue: e.queue,
		Logger: quietLogger(), Feed: cfg})
	require.NoError(t, err)
	return h
}

func feedTask(mid string, run int64) *asynq.Task {
	return asynq.NewTask(tasks.TypeFeed, fmt.Appendf(nil, `{"migration":%q,"run":%d}`, mid, run))
}

// TestFeederFillsTheWindowThenWaits: a run creates uploads up to the window, enqueues their
// start tasks and the next run; an overtaken run does nothing.
func TestFeederFillsTheWindowThenWaits(t *testing.T) {
	t.Parallel()
	e := setup(t)
	mid := e.fedMigration(t, 25, 10)
	h := e.feeder(t, tasks.FeedConfig{})
	require.NoError(t, h.HandleFeedTask(e.ctx, feedTask(mid, 1)))
	m, err := e.store.GetMigration(e.ctx, mid)
	require.NoError(t, err)
	require.Equal(t, int64(10), m.Total, "the window's worth of uploads")
	require.False(t, m.Sealed)
	pending, err := e.store.FeedPending(e.ctx, mid)
	require.NoError(t, err)
	require.Empty(t, pending, "their start tasks are enqueued")
	info, err := asynq.NewInspectorFromRedisClient(e.rdb).GetTaskInfo(tasks.QueueFeed, tasks.FeedTaskID(mid, 2))
	require.NoError(t, err, "the next run is scheduled")
	require.Equal(t, tasks.TypeFeed, info.Type)

	// Run 2 claims the feed; run 1 again (a redelivery) is stale and creates nothing.
	require.NoError(t, h.HandleFeedTask(e.ctx, feedTask(mid, 2)))
	for i := range 10 {
		id := state.DeriveUploadID(mid, e.bucket, fmt.Sprintf("f/%03d", i), fmt.Sprintf("f/%03d", i))
		_, err := e.store.Fail(e.ctx, id, "made room")
		require.NoError(t, err)
	}
	require.NoError(t, h.HandleFeedTask(e.ctx, feedTask(mid, 1)))
	m, err = e.store.GetMigration(e.ctx, mid)
	require.NoError(t, err)
	require.Equal(t, int64(10), m.Total, "a stale run creates nothing")

	require.NoError(t, h.HandleFeedTask(e.ctx, feedTask(mid, 3)))
	m, err = e.store.GetMigration(e.ctx, mid)
	require.NoError(t, err)
	require.Equal(t, int64(20), m.Total, "the room the failures made")
}

// TestFeederWaitsWhileRedisIsFull: above the memory limit a run creates nothing, says why on
// the migration, and schedules the next run.
func TestFeederWaitsWhileRedisIsFull(t *testing.T) {
	t.Parallel()
	e := setup(t)
	mid := e.fedMigration(t, 5, 10)
	h := e.feeder(t, tasks.FeedConfig{MaxMemoryBytes: 1})
	require.NoError(t, h.HandleFeedTask(e.ctx, feedTask(mid, 1)))
	m, err := e.store.GetMigration(e.ctx, mid)
	require.NoError(t, err)
	require.Zero(t, m.Total)
	require.Contains(t, m.FeedPaused, "used_memory")
	_, err = asynq.NewInspectorFromRedisClient(e.rdb).GetTaskInfo(tasks.QueueFeed, tasks.FeedTaskID(mid, 2))
	require.NoError(t, err, "the next run is scheduled")

	h = e.feeder(t, tasks.FeedConfig{})
	require.NoError(t, h.HandleFeedTask(e.ctx, feedTask(mid, 2)))
	m, err = e.store.GetMigration(e.ctx, mid)
	require.NoError(t, err)
	require.Equal(t, int64(5), m.Total)
	require.True(t, m.Sealed, "the listing ended")
	require.Empty(t, m.FeedPaused, "resumed")
}

// TestFeederCreatesNothingForAPausedMigration: a paused migration (max-failures, a
// destination-wide error, enqueuer pause) gets no new uploads from its feeder until it is
// unpaused; the run still hands over to the next.
func TestFeederCreatesNothingForAPausedMigration(t *testing.T) {
	t.Parallel()
	e := setup(t)
	mid := e.fedMigration(t, 5, 10)
	_, err := e.store.PauseMigration(e.ctx, mid, "paused by a test")
	require.NoError(t, err)
	h := e.feeder(t, tasks.FeedConfig{})
	require.NoError(t, h.HandleFeedTask(e.ctx, feedTask(mid, 1)))
	m, err := e.store.GetMigration(e.ctx, mid)
	require.NoError(t, err)
	require.Zero(t, m.Total, "a paused migration gets no uploads")
	_, err = asynq.NewInspectorFromRedisClient(e.rdb).GetTaskInfo(tasks.QueueFeed, tasks.FeedTaskID(mid, 2))
	require.NoError(t, err, "the next run is scheduled")

	_, err = e.store.UnpauseMigration(e.ctx, mid)
	require.NoError(t, err)
	require.NoError(t, h.HandleFeedTask(e.ctx, feedTask(mid, 2)))
	m, err = e.store.GetMigration(e.ctx, mid)
	require.NoError(t, err)
	require.Equal(t, int64(5), m.Total, "unpaused, it is fed")
}
