package tasks_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/storage"
	"github.com/partflow/partflow/tasks"
)

// newMigration creates a sealed migration with one planned upload per source (key = source).
func (e *env) newMigration(t *testing.T, sources ...string) []state.UploadID {
	t.Helper()
	mid := state.NewMigrationID()
	_, err := e.store.CreateMigration(e.ctx, state.NewMigration{ID: mid, Bucket: e.bucket, Queue: tasks.QueueDefault})
	require.NoError(t, err)
	ids := make([]state.UploadID, len(sources))
	for i, src := range sources {
		ids[i] = state.DeriveUploadID(mid, e.bucket, src)
		_, err := e.store.CreateUpload(e.ctx, state.NewUpload{ID: ids[i], Source: src, Bucket: e.bucket, Key: src})
		require.NoError(t, err)
	}
	require.NoError(t, e.store.SealMigration(e.ctx, mid))
	return ids
}

// TestBatchRedeliveredCountsOnceAndAFailingItemFailsAlone: a batch whose uploads were partly
// done already (one by its own start task, one cancelled) uploads the rest, a missing source
// fails only its own upload, and the batch run again (a redelivery) changes nothing.
func TestBatchRedeliveredCountsOnceAndAFailingItemFailsAlone(t *testing.T) {
	t.Parallel()
	e := setup(t)
	sums := map[string]string{}
	for _, name := range []string{"a", "c", "d", "e"} {
		sums[name] = e.writeFile(t, name, 1000+len(sums))
	}
	ids := e.newMigration(t, "a", "b-missing", "c", "d", "e")
	e.plan(t, ids[0]) // "a" completed by its own start task before the batch ran
	_, err := e.store.Transition(e.ctx, ids[3], state.AnyVersion, []state.State{state.Planned}, state.Cancelled)
	require.NoError(t, err)

	batch := tasks.NewBatchTask(t.Context(), ids, 5000)
	for run := range 2 {
		require.NoError(t, e.handlers.HandleBatchTask(e.ctx, batch), "run %d", run)
		m, err := e.store.GetMigration(e.ctx, ids[0].Migration)
		require.NoError(t, err)
		require.Equal(t, [4]int64{5, 3, 1, 1}, [4]int64{m.Total, m.Completed, m.Failed, m.Cancelled},
			"run %d: total, completed, failed, cancelled", run)
		require.Equal(t, int64(1000+1001+1003), m.BytesDone, "run %d: bytes done, counted once", run)
	}
	for _, i := range []int{0, 2, 4} {
		u, err := e.store.GetUpload(e.ctx, ids[i])
		require.NoError(t, err)
		require.Equal(t, state.Completed, u.State, u.Key)
		require.Equal(t, sums[u.Key], e.objectSHA256(t, u.Key), u.Key)
	}
	b, err := e.store.GetUpload(e.ctx, ids[1])
	require.NoError(t, err)
	require.Equal(t, state.Failed, b.State)
	require.Contains(t, b.Error, "b-missing")
	e.requireNoObject(t, "d")
}

// TestMigrateSendsSmallFilesInBatches: a migration of small files (sizes known, as a directory
// walk knows them) is enqueued as upload:batch tasks, which a worker runs to completion; every
// upload names its batch task among its tasks (janitor, monitor, cancel), and a large file
// still goes through upload:start.
func TestMigrateSendsSmallFilesInBatches(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var items []client.MigrationItem
	sums := map[string]string{}
	for i := range 40 {
		name := "small/" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		sums[name] = e.writeFile(t, name, 500+i)
		items = append(items, client.MigrationItem{Source: name, Key: name, Size: int64(500 + i)})
	}
	sums["big"] = e.writeFile(t, "big", 6*mib)
	items = append(items, client.MigrationItem{Source: "big", Key: "big", Size: 6 * mib})
	res, err := e.client.Migrate(e.ctx, client.MigrateRequest{Bucket: e.bucket, Source: "test", Items: client.ItemsOf(items...),
		PartSize: 5 * mib, Concurrency: 1})
	require.NoError(t, err)

	ids, err := e.store.MigrationUploads(e.ctx, res.ID, 0, 100)
	require.NoError(t, err)
	require.Len(t, ids, 41)
	us, err := e.store.GetUploads(e.ctx, ids)
	require.NoError(t, err)
	batches := map[string]int{}
	for _, u := range us {
		if u.Key == "big" {
			require.Empty(t, u.Batch, "a file larger than tasks.BatchMaxObject or a part goes alone")
			continue
		}
		require.NotEmpty(t, u.Batch, "%s was enqueued in a batch", u.Key)
		batches[u.Batch]++
		refs := tasks.UploadTasks(u, tasks.QueueDefault, nil)
		require.Equal(t, tasks.TaskRef{Queue: tasks.QueueHigh, ID: u.Batch, Shared: true}, refs[0])
	}
	require.Len(t, batches, 2, "40 small files make two batches of at most %d", tasks.BatchMaxUploads)

	e.startWorker(t)
	ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
	defer cancel()
	m, err := e.client.WaitMigration(ctx, res.ID, nil)
	require.NoError(t, err, "waiting for the migration to finish")
	require.Equal(t, int64(41), m.Completed)
	for name, sum := range sums {
		require.Equal(t, sum, e.objectSHA256(t, name), name)
	}
}

// gatedPuts is S3 whose PutObject waits until `want` PutObjects are in flight at once (or
// its context ends), so uploads that are sent one after the other never get through.
type gatedPuts struct {
	storage.Multipart
	mu       sync.Mutex
	inFlight int
	want     int
	open     chan struct{}
}

func (g *gatedPuts) PutObject(ctx context.Context, obj storage.Object, body []byte, opts storage.ObjectOptions) (storage.Part, error) {
	g.mu.Lock()
	g.inFlight++
	if g.inFlight == g.want {
		close(g.open)
	}
	g.mu.Unlock()
	select {
	case <-g.open:
	case <-ctx.Done():
		return storage.Part{}, ctx.Err()
	}
	return g.Multipart.PutObject(ctx, obj, body, opts)
}

// TestBatchPutsItsUploadsConcurrently: a batch's uploads are sent at the same time, within
// the worker's batch tokens (Config.BatchPuts), not one after the other.
func TestBatchPutsItsUploadsConcurrently(t *testing.T) {
	t.Parallel()
	e := setup(t)
	names := []string{"p", "q", "r", "s"}
	for _, name := range names {
		e.writeFile(t, name, 700)
	}
	ids := e.newMigration(t, names...)
	gate := &gatedPuts{Multipart: e.storage, want: len(names), open: make(chan struct{})}
	h, err := tasks.NewHandlers(tasks.Config{Store: e.store, S3: gate, Sources: e.volume, Queue: e.queue,
		Logger: quietLogger(), BatchPuts: len(names)})
	require.NoError(t, err)
	// The deadline only bounds a failure: sent one after the other, the first PutObject
	// waits for the others until it ends.
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, h.HandleBatchTask(ctx, tasks.NewBatchTask(ctx, ids, 2800)))
	m, err := e.store.GetMigration(e.ctx, ids[0].Migration)
	require.NoError(t, err)
	require.Equal(t, int64(len(names)), m.Completed, "uploads completed by the batch")
}
