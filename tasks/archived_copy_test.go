package tasks_test

import (
	"testing"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/liveness"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/storage"
	"github.com/partflow/partflow/tasks"
)

// TestArchivedRescuedCopyDoesNotFailAResumedUpload: a rescued copy of a part task (its ID is
// not the part's, so resume cannot drop it) that asynq archived fails the upload once; after
// resume, the janitor leaves the resumed upload alone, however long the archive keeps the copy.
func TestArchivedRescuedCopyDoesNotFailAResumedUpload(t *testing.T) {
	t.Parallel()
	e := setup(t)
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	e.writeFile(t, "f", 2*5*mib)
	id := e.put(t, "f", "k", storage.MinPartSize)
	u := e.plan(t, id)
	require.NoError(t, insp.DeleteTask(tasks.QueueHigh, id.String()+":start"))
	for n := 1; n <= u.Parts; n++ {
		require.NoError(t, insp.DeleteTask(tasks.QueueDefault, tasks.PartTaskID(u, n)))
	}
	// A rescued copy of part 2, given up by asynq.
	copyID := tasks.PartTaskID(u, 2) + liveness.RescueSuffix + "x"
	_, err := e.queue.EnqueueContext(e.ctx, tasks.NewPartTask(t.Context(), u, 2, tasks.QueueDefault), asynq.TaskID(copyID))
	require.NoError(t, err)
	require.NoError(t, insp.ArchiveTask(tasks.QueueDefault, copyID))

	h, err := tasks.NewHandlers(tasks.Config{Store: e.store, S3: e.storage, Sources: e.volume, Queue: e.queue,
		Logger: quietLogger(), Tasks: insp})
	require.NoError(t, err)
	require.NoError(t, h.HandleJanitorTask(e.ctx, tasks.NewJanitorTask()))
	got, err := e.store.GetUpload(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, state.Failed, got.State)
	require.Contains(t, got.Error, copyID)

	_, err = e.client.Resume(e.ctx, id.String())
	require.NoError(t, err)
	got, err = e.store.GetUpload(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, state.Uploading, got.State)
	require.NoError(t, h.HandleJanitorTask(e.ctx, tasks.NewJanitorTask()))
	got, err = e.store.GetUpload(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, state.Uploading, got.State, "the resumed upload must not be failed again by the old archive: %s", got.Error)
}

// TestArchivedTaskDoesNotBlockItsID: a task asynq archived under a deterministic ID (here the
// finalizer, given up before the upload's record existed, as after Redis lost its data) is
// replaced when the upload needs it again, instead of blocking the ID forever.
func TestArchivedTaskDoesNotBlockItsID(t *testing.T) {
	t.Parallel()
	e := setup(t)
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	e.writeFile(t, "f", 2*5*mib)
	id := e.put(t, "f", "k", storage.MinPartSize)
	u := e.plan(t, id)
	finalizeID := id.String() + ":finalize"
	_, err := e.queue.EnqueueContext(e.ctx, tasks.NewFinalizeTask(t.Context(), id, u.Size))
	require.NoError(t, err)
	require.NoError(t, insp.ArchiveTask(tasks.QueueHigh, finalizeID))

	for n := 1; n <= u.Parts; n++ {
		require.NoError(t, e.runPart(id, n))
	}
	info, err := insp.GetTaskInfo(tasks.QueueHigh, finalizeID)
	require.NoError(t, err)
	require.Equal(t, asynq.TaskStatePending, info.State, "the last part must enqueue a live finalizer in the archived one's place")
	require.NoError(t, e.runFinalize(id))
	got, err := e.store.GetUpload(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, state.Completed, got.State, got.Error)
}
