package tasks_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/metrics"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/testenv"
	"github.com/partflow/partflow/internal/worker"
	"github.com/partflow/partflow/storage"
	"github.com/partflow/partflow/tasks"
)

func TestRetriesExhaustedFailThenResumeUploadsOnlyWhatIsMissing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var broken atomic.Bool
	broken.Store(true)
	e.proxy.SetFault(func(r testenv.Request) testenv.Fault {
		if broken.Load() && r.Op == testenv.OpUploadPart && r.PartNumber >= 2 {
			return testenv.Fault{Status: 500, Code: "InternalError"}
		}
		return testenv.Fault{}
	})
	m := metrics.New(prometheus.NewRegistry())
	e.startWorker(t, func(c *worker.Config) { c.PartRetries = 2; c.Metrics = m })
	sum := e.writeFile(t, "f", 4*5*mib)
	id := e.put(t, "f", "k", storage.MinPartSize)

	u := e.wait(t, id)
	require.Equal(t, state.Failed, u.State)
	require.Contains(t, u.Error, "gave up after 3 attempts")
	require.GreaterOrEqual(t, testutil.ToFloat64(m.Retries.WithLabelValues(tasks.TypePart)), 2.0,
		"at least part 2's two retries are counted")
	// The handler counts the failure just after recording it: wait for the count, then check it.
	require.Eventually(t, func() bool { return testutil.ToFloat64(m.UploadsFinished.WithLabelValues("failed")) >= 1 },
		time.Minute, 10*time.Millisecond, "waiting for the failed upload to be counted")
	require.Contains(t, u.Error, "InternalError")
	failed, n, err := e.store.FailedUploads(e.ctx, id.Migration, 0, 10)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	require.Equal(t, []state.UploadID{id}, failed, "partflow records the failure itself")

	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	require.Eventually(t, func() bool {
		info, err := insp.GetQueueInfo(tasks.QueueDefault)
		return err == nil && info.Pending+info.Active+info.Retry+info.Scheduled == 0
	}, time.Minute, 20*time.Millisecond, "waiting for parts 2-4 to give up (or find the upload failed)")
	require.EqualValues(t, 1, testutil.ToFloat64(m.UploadsFinished.WithLabelValues("failed")), "the upload fails once")
	broken.Store(false)
	// Part 3 reached S3 but its worker died before recording it: resume must adopt it.
	buf := make([]byte, 5*mib)
	err = e.volume.ReadAt(e.ctx, "f", sourceInfo(u), 2*5*mib, buf)
	require.NoError(t, err)
	_, err = e.storage.UploadPart(e.ctx, storage.Object{Bucket: e.bucket, Key: "k"}, u.S3UploadID, 3, buf, storage.ObjectOptions{})
	require.NoError(t, err)

	before := map[int]int{}
	for _, x := range e.proxy.Exchanges() {
		if x.Op == testenv.OpUploadPart && x.Status == 200 {
			before[x.PartNumber]++
		}
	}
	out, err := e.client.Resume(e.ctx, id.String())
	require.NoError(t, err)
	require.Equal(t, 1, out.Changed)
	u = e.wait(t, id)
	require.Equal(t, state.Completed, u.State, u.Error)
	require.Equal(t, sum, e.objectSHA256(t, "k"))

	after := map[int]int{}
	for _, x := range e.proxy.Exchanges() {
		if x.Op == testenv.OpUploadPart && x.Status == 200 {
			after[x.PartNumber]++
		}
	}
	require.Equal(t, map[int]int{1: 1, 3: 1}, before, "before resume: part 1 by the worker, part 3 by hand")
	require.Equal(t, map[int]int{1: 1, 2: 1, 3: 1, 4: 1}, after, "resume uploads only parts 2 and 4")
}

func TestResumeAfterSourceChangedStartsOver(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.writeFile(t, "f", 2*5*mib)
	id := e.put(t, "f", "k", storage.MinPartSize)
	e.plan(t, id)
	require.NoError(t, e.runPart(id, 1))
	sum := e.writeFile(t, "f", 2*5*mib+7) // a new version of the file
	require.ErrorIs(t, e.runPart(id, 2), asynq.SkipRetry)

	e.startWorker(t)
	_, err := e.client.Resume(e.ctx, id.String())
	require.NoError(t, err)
	u := e.wait(t, id)
	require.Equal(t, state.Completed, u.State, u.Error)
	require.EqualValues(t, 2*5*mib+7, u.Size, "replanned for the new file")
	require.Equal(t, sum, e.objectSHA256(t, "k"))
}

func TestResumeRefusesLiveUploads(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.writeFile(t, "f", 10)
	id := e.put(t, "f", "k", 0)
	_, err := e.client.Resume(e.ctx, id.String())
	require.ErrorContains(t, err, "only failed uploads can be resumed")
}

func TestCancelAbortsAndDropsTasks(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.proxy.SetFault(func(r testenv.Request) testenv.Fault {
		if r.Op == testenv.OpUploadPart && r.PartNumber > 1 {
			return testenv.Fault{Status: 503, Code: "SlowDown"} // parts 2.. keep retrying
		}
		return testenv.Fault{}
	})
	e.startWorker(t, func(c *worker.Config) {
		c.RetryDelay = func(int, error, *asynq.Task) time.Duration { return time.Second }
	})
	e.writeFile(t, "f", 4*5*mib)
	id := e.put(t, "f", "k", storage.MinPartSize)
	require.Eventually(t, func() bool {
		u, err := e.store.GetUpload(e.ctx, id)
		return err == nil && u.PartsDone == 1
	}, time.Minute, 10*time.Millisecond, "waiting for part 1 to be recorded")

	out, err := e.client.Cancel(e.ctx, id.String())
	require.NoError(t, err)
	require.Equal(t, 1, out.Changed)

	require.Eventually(t, func() bool {
		ups, err := e.storage.ListUploads(e.ctx, e.bucket, "")
		return err == nil && len(ups) == 0
	}, time.Minute, 20*time.Millisecond, "waiting for the abort task to remove the multipart upload")
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	require.Eventually(t, func() bool {
		for _, q := range []string{tasks.QueueHigh, tasks.QueueDefault} {
			info, err := insp.GetQueueInfo(q)
			if err != nil || info.Pending+info.Scheduled+info.Retry+info.Active > 0 {
				return false
			}
		}
		return true
	}, time.Minute, 20*time.Millisecond, "waiting for the upload's tasks to be gone")

	puts := e.proxy.Count(testenv.OpUploadPart)
	require.NoError(t, e.runPart(id, 2), "a late part task after cancel does nothing")
	require.Equal(t, puts, e.proxy.Count(testenv.OpUploadPart), "and sends nothing")
	u, err := e.store.GetUpload(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, state.Cancelled, u.State)
	e.requireNoObject(t, "k")

	_, err = e.client.Cancel(e.ctx, id.String())
	require.ErrorContains(t, err, "can be cancelled", "cancelling twice says why")
}

func TestJanitor(t *testing.T) {
	t.Parallel()
	e := setup(t)
	const stalledAfter = time.Second
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	m := metrics.New(prometheus.NewRegistry())
	h, err := tasks.NewHandlers(tasks.Config{Store: e.store, S3: e.storage, Sources: e.volume, Queue: e.queue,
		Logger: quietLogger(), Janitor: tasks.JanitorConfig{StalledAfter: stalledAfter, OrphanGrace: time.Millisecond,
			Managed: []tasks.Location{{Bucket: e.bucket}}}, Tasks: insp, Metrics: m})
	require.NoError(t, err)

	// A stalled upload: planned, multipart upload created, then its part tasks were lost.
	e.writeFile(t, "stalled", 2*5*mib)
	stalled := e.put(t, "stalled", "stalled", storage.MinPartSize)
	u := e.plan(t, stalled)
	require.NoError(t, insp.DeleteTask(tasks.QueueHigh, stalled.String()+":start")) // e.plan ran it by hand
	for n := 1; n <= u.Parts; n++ {
		require.NoError(t, insp.DeleteTask(tasks.QueueDefault, tasks.PartTaskID(u, n)))
	}
	// A backlogged upload: just as old, but its part tasks still wait in the queue.
	e.writeFile(t, "backlog", 2*5*mib)
	backlog := e.put(t, "backlog", "backlog", storage.MinPartSize)
	backlogU := e.plan(t, backlog)
	for time.Since(backlogU.Updated) <= stalledAfter {
		time.Sleep(50 * time.Millisecond) // let it become stalled (the clock is the test's subject)
	}
	// A live upload that made progress just now.
	e.writeFile(t, "live", 2*5*mib)
	live := e.put(t, "live", "live", storage.MinPartSize)
	liveU := e.plan(t, live)
	// An orphan: a multipart upload no partflow record knows.
	orphanID, err := e.storage.CreateUpload(e.ctx, storage.Object{Bucket: e.bucket, Key: "orphan"}, storage.ObjectOptions{})
	require.NoError(t, err)

	// Two janitors at once: the work is done once.
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Go(func() { errs <- h.HandleJanitorTask(e.ctx, tasks.NewJanitorTask()) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err, "a janitor run")
	}

	require.Equal(t, 1, e.proxy.Count(testenv.OpAbortMultipartUpload), "one abort, for the orphan: the stalled upload keeps its parts")
	require.EqualValues(t, 1, testutil.ToFloat64(m.JanitorActions.WithLabelValues(tasks.ActionStalledFailed)))
	require.EqualValues(t, 1, testutil.ToFloat64(m.JanitorActions.WithLabelValues(tasks.ActionOrphanAborted)))
	require.EqualValues(t, 1, testutil.ToFloat64(m.UploadsFinished.WithLabelValues("failed")))
	got, err := e.store.GetUpload(e.ctx, stalled)
	require.NoError(t, err)
	require.Equal(t, state.Failed, got.State)
	require.Contains(t, got.Error, "stalled")
	ups, err := e.storage.ListUploads(e.ctx, e.bucket, "")
	require.NoError(t, err)
	var left []string
	for _, up := range ups {
		left = append(left, up.UploadID)
	}
	require.ElementsMatch(t, []string{liveU.S3UploadID, backlogU.S3UploadID, u.S3UploadID}, left,
		"the live, the backlogged and the stalled (failed, resumable) uploads keep their multipart uploads")
	require.NotContains(t, left, orphanID)
	for _, id := range []state.UploadID{live, backlog} {
		got, err = e.store.GetUpload(e.ctx, id)
		require.NoError(t, err)
		require.Equal(t, state.Uploading, got.State, "%s is left alone", id)
	}
}

func TestMetricsAfterAKnownWorkload(t *testing.T) {
	t.Parallel()
	e := setup(t)
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	reg.MustRegister(metrics.NewQueueCollector(asynq.NewInspectorFromRedisClient(e.rdb)))
	e.startWorker(t, func(c *worker.Config) { c.Metrics = m })
	e.writeFile(t, "big", 3*5*mib)
	e.writeFile(t, "small", 1000)
	for _, src := range []string{"big", "small"} {
		u := e.wait(t, e.put(t, src, src, storage.MinPartSize))
		require.Equal(t, state.Completed, u.State, u.Error)
	}

	require.EqualValues(t, 3*5*mib+1000, testutil.ToFloat64(m.BytesUploaded))
	require.EqualValues(t, 3, testutil.ToFloat64(m.Parts.WithLabelValues(metrics.PartUploaded)))
	require.EqualValues(t, 2, testutil.ToFloat64(m.UploadsFinished.WithLabelValues("completed")))
	require.EqualValues(t, 0, testutil.ToFloat64(m.PartsInFlight))
	require.Equal(t, 1, testutil.CollectAndCount(m.PartDuration))

	srv := httptest.NewServer(worker.NewHTTPHandler(worker.Probes{Redis: e.rdb, S3: e.storage, Gatherer: reg}))
	defer srv.Close()
	body := get(t, srv.URL+"/metrics", http.StatusOK)
	for _, series := range []string{
		`partflow_bytes_uploaded_total 1.572964e+07`,
		`partflow_parts_total{result="uploaded"} 3`,
		`partflow_part_duration_seconds_count 3`,
		`partflow_uploads_finished_total{state="completed"} 2`,
		`partflow_parts_in_flight 0`,
		`partflow_queue_tasks{queue="default",state="pending"} 0`,
		`partflow_queue_inspector_up 1`,
	} {
		require.Contains(t, body, series)
	}
	get(t, srv.URL+"/healthz", http.StatusOK)
	get(t, srv.URL+"/readyz", http.StatusOK)

	require.NoError(t, e.redis.Stop())
	require.Contains(t, get(t, srv.URL+"/readyz", http.StatusServiceUnavailable), "redis")
	get(t, srv.URL+"/healthz", http.StatusOK)
	require.NoError(t, e.redis.Restart(e.ctx)) // so the worker shuts down cleanly
	get(t, srv.URL+"/readyz", http.StatusOK)
}

func get(t *testing.T, url string, want int) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = io.Copy(&b, resp.Body)
	require.Equal(t, want, resp.StatusCode, "GET %s: %s", url, b.String())
	return b.String()
}

// TestJanitorAbortsAbandonedMultipartUploads: without any managed location, the janitor still
// aborts the multipart uploads partflow itself started and can no longer use — here one of a
// cancelled upload whose abort task was lost, and one whose record expired — and leaves a
// failed (resumable) one alone.
func TestJanitorAbortsAbandonedMultipartUploads(t *testing.T) {
	t.Parallel()
	e := setup(t)
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	h, err := tasks.NewHandlers(tasks.Config{Store: e.store, S3: e.storage, Sources: e.volume, Queue: e.queue,
		Logger: quietLogger(), Tasks: insp})
	require.NoError(t, err)
	planned := func(name string) state.Upload {
		e.writeFile(t, name, 2*5*mib)
		return e.plan(t, e.put(t, name, name, storage.MinPartSize))
	}

	cancelled := planned("cancelled")
	_, err = e.client.Cancel(e.ctx, cancelled.ID.String())
	require.NoError(t, err)
	require.NoError(t, insp.DeleteTask(tasks.QueueHigh, cancelled.ID.String()+":abort")) // the abort task was lost

	expired := planned("expired")
	keys, err := e.rdb.Keys(e.ctx, "partflow:{"+expired.ID.Migration+"}:*").Result()
	require.NoError(t, err)
	require.NoError(t, e.rdb.Del(e.ctx, keys...).Err()) // as if its retention ran out

	failed := planned("failed")
	_, err = e.store.Fail(e.ctx, failed.ID, "gave up")
	require.NoError(t, err)

	require.NoError(t, h.HandleJanitorTask(e.ctx, tasks.NewJanitorTask()))
	ups, err := e.storage.ListUploads(e.ctx, e.bucket, "")
	require.NoError(t, err)
	require.Len(t, ups, 1, "only the failed upload keeps its multipart upload, for resume")
	require.Equal(t, failed.S3UploadID, ups[0].UploadID)
	for _, u := range []state.Upload{cancelled, expired} {
		_, ok, err := e.store.S3UploadOwner(e.ctx, u.S3UploadID)
		require.NoError(t, err)
		require.False(t, ok, "the note of an aborted multipart upload is dropped")
	}
}

// TestPartInFlightDuringCancelLeavesNothing: a part held in flight while its upload is cancelled
// lands in the still-open multipart upload; its task finds the upload cancelled, records
// nothing, aborts the multipart upload itself and returns no error (no retry, no failure). The
// abort task that cancel enqueued then finds nothing left; no multipart upload and no object
// remain.
func TestPartInFlightDuringCancelLeavesNothing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.writeFile(t, "f", 2*5*mib)
	id := e.put(t, "f", "k", storage.MinPartSize)
	u := e.plan(t, id)

	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	var releaseOnce sync.Once
	letGo := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(letGo)
	e.proxy.SetFault(func(r testenv.Request) testenv.Fault {
		if r.Op == testenv.OpUploadPart {
			arrived <- struct{}{}
			<-release // hold the part until the upload is cancelled
		}
		return testenv.Fault{}
	})
	done := make(chan error, 1)
	go func() { done <- e.runPart(id, 1) }()
	select {
	case <-arrived:
	case <-time.After(time.Minute):
		t.Fatal("the part never reached S3")
	}

	_, err := e.client.Cancel(e.ctx, id.String())
	require.NoError(t, err)
	letGo()
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the part in flight never returned")
	}
	require.NoError(t, err, "the part of a cancelled upload is dropped: no retry, no failure")
	got, err := e.store.GetUpload(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, state.Cancelled, got.State)
	require.Zero(t, got.PartsDone, "nothing is recorded for a cancelled upload")
	ups, err := e.storage.ListUploads(e.ctx, e.bucket, "")
	require.NoError(t, err)
	require.Empty(t, ups, "the part task aborts the multipart upload %s its part landed in", u.S3UploadID)

	require.NoError(t, e.handlers.HandleAbortTask(e.ctx, tasks.NewAbortTask(id)), "the abort task finds nothing left")
	ups, err = e.storage.ListUploads(e.ctx, e.bucket, "")
	require.NoError(t, err)
	require.Empty(t, ups)
	e.requireNoObject(t, "k")
}
