package tasks_test

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/testenv"
	"github.com/partflow/partflow/tasks"
)

// nextMilli waits until the clock has passed the creation of u, so an upload created now is
// newer than u.
func (e *env) nextMilli(t *testing.T, id state.UploadID) {
	t.Helper()
	u, err := e.store.GetUpload(e.ctx, id)
	require.NoError(t, err)
	for time.Now().UnixMilli() <= u.Created.UnixMilli() {
		time.Sleep(time.Millisecond)
	}
}

// Two uploads of one key from two migrations: the newer one (created later) is the one that
// stays, whichever writes first, and the older one's record says which upload won. For a
// single PUT the older one stands down when it is planned after the newer completed; for a
// multipart upload its finalizer stands down and its multipart upload is aborted.
func TestNewerUploadOfKeySupersedesOlder(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.writeFile(t, "old-small", 1000)
	newSmall := e.writeFile(t, "new-small", 1001)
	e.writeFile(t, "old-big", 11*mib)
	newBig := e.writeFile(t, "new-big", 11*mib+1)

	requireSuperseded := func(older, newer state.UploadID, err error) {
		t.Helper()
		require.ErrorIs(t, err, asynq.SkipRetry)
		require.ErrorIs(t, err, tasks.ErrSuperseded)
		u, gerr := e.store.GetUpload(e.ctx, older)
		require.NoError(t, gerr)
		require.Equal(t, state.Failed, u.State)
		require.Contains(t, u.Error, "superseded by a newer upload of the same key")
		require.Contains(t, u.Error, newer.String(), "the record names the winner")
	}

	t.Run("single put", func(t *testing.T) {
		older := e.put(t, "old-small", "small", 0)
		e.nextMilli(t, older)
		newer := e.put(t, "new-small", "small", 0)
		require.Equal(t, state.Completed, e.plan(t, newer).State)
		requireSuperseded(older, newer, e.handlers.HandleStartTask(e.ctx, tasks.NewStartTask(t.Context(), older)))
		require.Equal(t, newSmall, e.objectSHA256(t, "small"), "the newer content stays")
	})

	t.Run("multipart", func(t *testing.T) {
		older := e.put(t, "old-big", "big", 5*mib)
		u := e.plan(t, older)
		for n := 1; n <= u.Parts; n++ {
			require.NoError(t, e.runPart(older, n))
		}
		e.nextMilli(t, older)
		newer := e.put(t, "new-big", "big", 5*mib)
		u = e.plan(t, newer)
		for n := 1; n <= u.Parts; n++ {
			require.NoError(t, e.runPart(newer, n))
		}
		require.NoError(t, e.runFinalize(newer))
		requireSuperseded(older, newer, e.runFinalize(older))
		require.Equal(t, newBig, e.objectSHA256(t, "big"), "the newer content stays")
		e.requireNoMultipart(t)
	})
}

// Two migrations race on one key through a worker while the older one's PutObject is slow:
// the newer content ends in the bucket (before, the older PUT landed last), and the records
// agree: the newer completed, the older either completed first or stood down naming it.
func TestTwoMigrationsRacingOnOneKeyEndWithNewerContent(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.writeFile(t, "a", 2000)
	newer := e.writeFile(t, "b", 2001)
	e.proxy.SetFault(func(r testenv.Request) testenv.Fault {
		if r.Op == testenv.OpPutObject && r.Seq == 1 {
			return testenv.Fault{Delay: time.Second} // the first PUT (the older upload's) is slow
		}
		return testenv.Fault{}
	})
	e.startWorker(t)
	a := e.put(t, "a", "k", 0)
	e.nextMilli(t, a)
	b := e.put(t, "b", "k", 0)
	ub := e.wait(t, b)
	ua := e.wait(t, a)
	require.Equal(t, state.Completed, ub.State, "the newer upload completed: %s", ub.Error)
	require.Equal(t, newer, e.objectSHA256(t, "k"), "the newer content stays")
	switch ua.State {
	case state.Failed:
		require.Contains(t, ua.Error, "superseded by a newer upload of the same key")
		require.Contains(t, ua.Error, b.String())
	case state.Completed:
		require.False(t, ua.Updated.After(ub.Updated), "the older upload completed before the newer one")
	default:
		t.Fatalf("older upload ended %s", ua.State)
	}
}
