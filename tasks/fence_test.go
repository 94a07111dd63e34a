package tasks_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/testenv"
	"github.com/partflow/partflow/storage"
	"github.com/partflow/partflow/tasks"
)

// takeTask removes the pending task of the given type (and, for parts, part number) of an
// upload from its queue and returns it, as a worker would have fetched it.
func (e *env) takeTask(t *testing.T, queue, typ string, part int) *asynq.Task {
	t.Helper()
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	pending, err := insp.ListPendingTasks(queue, asynq.PageSize(1000))
	require.NoError(t, err)
	for _, info := range pending {
		var p tasks.PartPayload
		if info.Type != typ || json.Unmarshal(info.Payload, &p) != nil || (typ == tasks.TypePart && p.Part != part) {
			continue
		}
		require.NoError(t, insp.DeleteTask(queue, info.ID))
		return asynq.NewTask(info.Type, info.Payload)
	}
	t.Fatalf("no pending %s task (part %d) in queue %s", typ, part, queue)
	return nil
}

// drain runs every pending task of the default and high queues through the handlers (no
// server), as a worker would, until none is left.
func (e *env) drain(t *testing.T) {
	t.Helper()
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	for range 100 {
		ran := 0
		for _, queue := range []string{tasks.QueueDefault, tasks.QueueHigh} {
			pending, err := insp.ListPendingTasks(queue, asynq.PageSize(1000))
			if err != nil {
				require.ErrorIs(t, err, asynq.ErrQueueNotFound)
				continue
			}
			for _, info := range pending {
				require.NoError(t, insp.DeleteTask(queue, info.ID))
				task := asynq.NewTask(info.Type, info.Payload)
				var err error
				switch info.Type {
				case tasks.TypeStart:
					err = e.handlers.HandleStartTask(e.ctx, task)
				case tasks.TypePart:
					err = e.handlers.HandlePartTask(e.ctx, task)
				case tasks.TypeFinalize:
					err = e.handlers.HandleFinalizeTask(e.ctx, task)
				case tasks.TypeAbort:
					err = e.handlers.HandleAbortTask(e.ctx, task)
				}
				require.NoError(t, err, "task %s", info.ID)
				ran++
			}
		}
		if ran == 0 {
			return
		}
	}
	t.Fatal("tasks kept coming after 100 rounds")
}

// TestStalePartOfAnOldUploadIDIsDroppedAfterReplan: a part task of the first plan is in flight
// (held at the S3 proxy) when the start task finds the multipart upload gone (NoSuchUpload from
// ListParts), resets the upload and plans it again with a new S3 upload ID. The old part lands
// afterwards, and S3 either refuses it (NoSuchUpload: the old upload is gone) or accepts it (the
// old upload still exists, or a server brought it back). Either way it must be dropped: never
// recorded into the new plan, and not failing the new upload. The old plan's queued tasks do
// nothing, and the new plan's tasks (other task IDs) complete the object byte-identical.
func TestStalePartOfAnOldUploadIDIsDroppedAfterReplan(t *testing.T) {
	t.Parallel()
	for _, accepted := range []bool{false, true} {
		t.Run(map[bool]string{false: "refused", true: "accepted"}[accepted], func(t *testing.T) {
			t.Parallel()
			stalePartAfterReplan(t, accepted)
		})
	}
}

func stalePartAfterReplan(t *testing.T, accepted bool) {
	e := setup(t)
	sum := e.writeFile(t, "f", 2*5*mib+123)
	id := e.put(t, "f", "k", storage.MinPartSize)
	old := e.plan(t, id)
	require.Equal(t, 3, old.Parts)
	stale := e.takeTask(t, tasks.QueueDefault, tasks.TypePart, 1)

	arrived, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	letGo := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(letGo) // a failing test must not leave the held request behind
	e.proxy.SetFault(func(r testenv.Request) testenv.Fault {
		switch {
		case r.Op == testenv.OpUploadPart && r.Seq == 1:
			close(arrived)
			<-release // hold the old plan's part until the upload is planned anew
			if !accepted {
				return testenv.Fault{Status: 404, Code: "NoSuchUpload"}
			}
		case r.Op == testenv.OpListParts && r.Seq == 1 && accepted:
			// The start task sees the multipart upload gone, although S3 still has it.
			return testenv.Fault{Status: 404, Code: "NoSuchUpload"}
		}
		return testenv.Fault{}
	})
	done := make(chan error, 1)
	go func() { done <- e.handlers.HandlePartTask(e.ctx, stale) }()
	select {
	case <-arrived:
	case <-time.After(time.Minute):
		t.Fatal("the old plan's part never reached S3")
	}

	if !accepted {
		require.NoError(t, e.storage.AbortUpload(e.ctx, storage.Object{Bucket: e.bucket, Key: "k"}, old.S3UploadID))
	}
	// The start task (a resume, a redelivery) finds the multipart upload gone and plans again.
	require.NoError(t, e.handlers.HandleStartTask(e.ctx, tasks.NewStartTask(t.Context(), id)))
	replanned, err := e.store.GetUpload(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, state.Uploading, replanned.State)
	require.NotEqual(t, old.S3UploadID, replanned.S3UploadID, "planned again with a new multipart upload")

	letGo()
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the old plan's part task never returned")
	}
	require.NoError(t, err, "the old plan's part is dropped, not an error")
	u, err := e.store.GetUpload(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, state.Uploading, u.State, "the stale part must not fail the new upload: %s", u.Error)
	require.Zero(t, u.PartsDone, "the stale part must not be recorded into the new plan")

	e.drain(t) // the old plan's parts 2 and 3 (dropped) and the new plan's three parts
	u, err = e.store.GetUpload(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, state.Completed, u.State, u.Error)
	require.Equal(t, sum, e.objectSHA256(t, "k"))
	e.requireNoMultipart(t) // the accepted stale part's old multipart upload is aborted again
}
