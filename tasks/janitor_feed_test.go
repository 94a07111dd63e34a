package tasks_test

import (
	"testing"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/tasks"
)

// TestJanitorRestartsALostFeeder: a fed migration whose feeder task is gone (deleted, or
// archived after its retries) stalls; the janitor enqueues the next run, once however often
// it looks, and leaves a migration alone while a feeder run is queued or once it is sealed.
func TestJanitorRestartsALostFeeder(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ins := asynq.NewInspectorFromRedisClient(e.rdb)
	mid := e.fedMigration(t, 25, 10)
	feedTasks := func() []string {
		var ids []string
		for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){ins.ListPendingTasks, ins.ListScheduledTasks, ins.ListArchivedTasks} {
			infos, err := list(tasks.QueueFeed)
			require.NoError(t, err)
			for _, i := range infos {
				ids = append(ids, i.ID+"="+i.State.String())
			}
		}
		return ids
	}
	require.Equal(t, []string{tasks.FeedTaskID(mid, 1) + "=pending"}, feedTasks())

	// While run 1 is queued, the janitor does nothing.
	require.NoError(t, e.handlers.HandleJanitorTask(e.ctx, tasks.NewJanitorTask()))
	require.Equal(t, []string{tasks.FeedTaskID(mid, 1) + "=pending"}, feedTasks())

	// Run 1 deleted before it claimed the feed: the janitor enqueues it again, once.
	require.NoError(t, ins.DeleteTask(tasks.QueueFeed, tasks.FeedTaskID(mid, 1)))
	for range 2 {
		require.NoError(t, e.handlers.HandleJanitorTask(e.ctx, tasks.NewJanitorTask()))
	}
	require.Equal(t, []string{tasks.FeedTaskID(mid, 1) + "=pending"}, feedTasks())

	// Run 1 feeds (and enqueues run 2); while run 2 is queued, nothing changes.
	h := e.feeder(t, tasks.FeedConfig{})
	require.NoError(t, h.HandleFeedTask(e.ctx, feedTask(mid, 1)))
	require.NoError(t, ins.DeleteTask(tasks.QueueFeed, tasks.FeedTaskID(mid, 1))) // it ended
	require.NoError(t, e.handlers.HandleJanitorTask(e.ctx, tasks.NewJanitorTask()))
	require.Equal(t, []string{tasks.FeedTaskID(mid, 2) + "=pending"}, feedTasks())

	// Run 2 is archived (its retries used up): the janitor enqueues run 3, once.
	require.NoError(t, ins.ArchiveTask(tasks.QueueFeed, tasks.FeedTaskID(mid, 2)))
	for range 2 {
		require.NoError(t, e.handlers.HandleJanitorTask(e.ctx, tasks.NewJanitorTask()))
	}
	require.ElementsMatch(t, []string{tasks.FeedTaskID(mid, 3) + "=pending", tasks.FeedTaskID(mid, 2) + "=archived"}, feedTasks())

	// The restarted run feeds on from the checkpoint.
	m, err := e.store.GetMigration(e.ctx, mid)
	require.NoError(t, err)
	require.Equal(t, int64(10), m.Total, "the first window")
	for id, err := range e.store.LiveUploads(e.ctx, mid) {
		require.NoError(t, err)
		_, err = e.store.Fail(e.ctx, id, "made room")
		require.NoError(t, err)
	}
	require.NoError(t, h.HandleFeedTask(e.ctx, feedTask(mid, 3)))
	m, err = e.store.GetMigration(e.ctx, mid)
	require.NoError(t, err)
	require.Equal(t, int64(20), m.Total, "run 3 fed the next window")

	// A sealed migration needs no feeder.
	require.NoError(t, e.store.SealMigration(e.ctx, mid))
	for _, info := range must(ins.ListPendingTasks(tasks.QueueFeed)) {
		require.NoError(t, ins.DeleteTask(tasks.QueueFeed, info.ID))
	}
	require.NoError(t, e.handlers.HandleJanitorTask(e.ctx, tasks.NewJanitorTask()))
	require.Equal(t, []string{tasks.FeedTaskID(mid, 2) + "=archived"}, feedTasks())
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
