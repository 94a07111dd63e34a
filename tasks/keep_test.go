package tasks_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/metrics"
	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/testenv"
	"github.com/partflow/partflow/internal/worker"
	"github.com/partflow/partflow/storage"
	"github.com/partflow/partflow/tasks"
)

// blinkingSource is a volume whose reads at one offset fail with a permanent error (a source
// gone for a while: a 404 blip from a CDN, an expired presigned URL) while broken is set.
type blinkingSource struct {
	source.Reader
	offset int64
	broken atomic.Bool
}

func (s *blinkingSource) ReadAt(ctx context.Context, src string, want source.Info, off int64, buf []byte) error {
	if s.broken.Load() && off == s.offset {
		return fmt.Errorf("test: %s answered 404 for a moment: %w", src, source.ErrNotFound)
	}
	return s.Reader.ReadAt(ctx, src, want, off, buf)
}

// uploadedParts counts the successful UploadPart requests the proxy saw, by part number.
func (e *env) uploadedParts() map[int]int {
	n := map[int]int{}
	for _, x := range e.proxy.Exchanges() {
		if x.Op == testenv.OpUploadPart && x.Status == 200 {
			n[x.PartNumber]++
		}
	}
	return n
}

// TestPermanentSourceFailureKeepsPartsAndResumeSendsOnlyTheMissing: a permanent source error
// at part k of n fails the upload but keeps its multipart upload; once the source is back,
// resume uploads only the n-k missing parts (counted at the S3 proxy), and the object is
// byte-identical.
func TestPermanentSourceFailureKeepsPartsAndResumeSendsOnlyTheMissing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	const n, k = 4, 3
	src := &blinkingSource{Reader: e.volume, offset: (k - 1) * 5 * mib}
	src.broken.Store(true)
	// One task at a time, so parts 1..k-1 are uploaded before part k fails.
	e.startWorker(t, func(c *worker.Config) { c.Sources = src; c.Concurrency = 1 })
	sum := e.writeFile(t, "f", n*5*mib)
	id := e.put(t, "f", "k", storage.MinPartSize)

	u := e.wait(t, id)
	require.Equal(t, state.Failed, u.State)
	require.Contains(t, u.Error, "answered 404 for a moment")
	require.Equal(t, n, u.Parts)
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	require.Eventually(t, func() bool {
		info, err := insp.GetQueueInfo(tasks.QueueDefault)
		return err == nil && info.Pending+info.Active+info.Retry+info.Scheduled == 0
	}, time.Minute, 20*time.Millisecond, "waiting for the parts after part %d to find the upload failed", k)
	ups, err := e.storage.ListUploads(e.ctx, e.bucket, "")
	require.NoError(t, err)
	require.Len(t, ups, 1, "the failed upload keeps its multipart upload")
	require.Equal(t, u.S3UploadID, ups[0].UploadID)
	before := e.uploadedParts()
	require.Equal(t, map[int]int{1: 1, 2: 1}, before, "parts before part %d were uploaded once", k)

	src.broken.Store(false)
	out, err := e.client.Resume(e.ctx, id.String())
	require.NoError(t, err)
	require.Equal(t, 1, out.Changed)
	u = e.wait(t, id)
	require.Equal(t, state.Completed, u.State, u.Error)
	require.Equal(t, sum, e.objectSHA256(t, "k"))
	after := e.uploadedParts()
	require.Equal(t, map[int]int{1: 1, 2: 1, 3: 1, 4: 1}, after,
		"resume uploads only the %d missing parts, each once", n-k+1)
	require.Equal(t, n-len(before), sumCounts(after)-sumCounts(before))
}

func sumCounts(m map[int]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

// TestJanitorKeepsStalledPartsAndAbortsFailedUploadsAfterTheAbandonAge: a stalled upload is
// failed but keeps its multipart upload (for resume); the multipart upload of an upload failed
// for longer than AbandonAfter is aborted, logged and counted; a recently failed one is kept.
func TestJanitorKeepsStalledPartsAndAbortsFailedUploadsAfterTheAbandonAge(t *testing.T) {
	t.Parallel()
	e := setup(t)
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	m := metrics.New(prometheus.NewRegistry())
	planned := func(name string) state.Upload {
		e.writeFile(t, name, 2*5*mib)
		u := e.plan(t, e.put(t, name, name, storage.MinPartSize))
		require.NoError(t, insp.DeleteTask(tasks.QueueHigh, u.ID.String()+":start"))
		for n := 1; n <= u.Parts; n++ {
			require.NoError(t, insp.DeleteTask(tasks.QueueDefault, tasks.PartTaskID(u, n)))
		}
		return u
	}
	stalled := planned("stalled")
	old := planned("old")
	_, err := e.store.Fail(e.ctx, old.ID, "gave up long ago")
	require.NoError(t, err)
	time.Sleep(1100 * time.Millisecond) // the stalled age and the abandon age (the clock is the subject)
	recent := planned("recent")
	_, err = e.store.Fail(e.ctx, recent.ID, "gave up just now")
	require.NoError(t, err)

	h, err := tasks.NewHandlers(tasks.Config{Store: e.store, S3: e.storage, Sources: e.volume, Queue: e.queue,
		Logger: quietLogger(), Tasks: insp, Metrics: m,
		Janitor: tasks.JanitorConfig{StalledAfter: time.Second, AbandonAfter: time.Second}})
	require.NoError(t, err)
	require.NoError(t, h.HandleJanitorTask(e.ctx, tasks.NewJanitorTask()))

	got, err := e.store.GetUpload(e.ctx, stalled.ID)
	require.NoError(t, err)
	require.Equal(t, state.Failed, got.State)
	require.Contains(t, got.Error, "stalled")
	ups, err := e.storage.ListUploads(e.ctx, e.bucket, "")
	require.NoError(t, err)
	var left []string
	for _, up := range ups {
		left = append(left, up.UploadID)
	}
	require.ElementsMatch(t, []string{stalled.S3UploadID, recent.S3UploadID}, left,
		"the stalled and the recently failed uploads keep their parts; the long-failed one's are aborted")
	require.EqualValues(t, 1, testutil.ToFloat64(m.JanitorActions.WithLabelValues(tasks.ActionFailedAbandoned)))
	require.EqualValues(t, 1, testutil.ToFloat64(m.JanitorActions.WithLabelValues(tasks.ActionStalledFailed)))
}

// TestJanitorFailsAnUploadWhoseTaskWasArchived: a part task archived by asynq without its
// handler giving up (the recoverer archives a task whose retries were used up by worker kills)
// leaves the upload with nothing to move it. The janitor's next run fails the upload with that
// reason — not only after StalledAfter — and keeps its parts, so resume completes it.
func TestJanitorFailsAnUploadWhoseTaskWasArchived(t *testing.T) {
	t.Parallel()
	e := setup(t)
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	sum := e.writeFile(t, "f", 3*5*mib)
	id := e.put(t, "f", "k", storage.MinPartSize)
	u := e.plan(t, id)
	require.NoError(t, insp.DeleteTask(tasks.QueueHigh, id.String()+":start")) // e.plan ran it by hand
	require.NoError(t, insp.DeleteTask(tasks.QueueDefault, tasks.PartTaskID(u, 1)))
	require.NoError(t, e.runPart(id, 1))
	// What the recoverer does to a task whose lease expired with its retries used up.
	require.NoError(t, insp.ArchiveTask(tasks.QueueDefault, tasks.PartTaskID(u, 2)))

	m := metrics.New(prometheus.NewRegistry())
	h, err := tasks.NewHandlers(tasks.Config{Store: e.store, S3: e.storage, Sources: e.volume, Queue: e.queue,
		Logger: quietLogger(), Tasks: insp, Metrics: m}) // StalledAfter: the default 24h
	require.NoError(t, err)
	require.NoError(t, h.HandleJanitorTask(e.ctx, tasks.NewJanitorTask()))

	got, err := e.store.GetUpload(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, state.Failed, got.State, "the janitor fails the upload in the run after the archive")
	require.Contains(t, got.Error, tasks.PartTaskID(u, 2)+" was archived")
	require.Equal(t, 1, got.PartsDone)
	require.EqualValues(t, 1, testutil.ToFloat64(m.JanitorActions.WithLabelValues(tasks.ActionArchivedFailed)))
	ups, err := e.storage.ListUploads(e.ctx, e.bucket, "")
	require.NoError(t, err)
	require.Len(t, ups, 1, "the failed upload keeps its parts")

	require.NoError(t, h.HandleJanitorTask(e.ctx, tasks.NewJanitorTask()))
	require.EqualValues(t, 1, testutil.ToFloat64(m.JanitorActions.WithLabelValues(tasks.ActionArchivedFailed)),
		"a failed upload is not failed again")

	e.startWorker(t)
	_, err = e.client.Resume(e.ctx, id.String())
	require.NoError(t, err)
	got = e.wait(t, id)
	require.Equal(t, state.Completed, got.State, got.Error)
	require.Equal(t, sum, e.objectSHA256(t, "k"))
	require.Equal(t, map[int]int{1: 1, 2: 1, 3: 1}, e.uploadedParts(), "resume sent only parts 2 and 3")
}
