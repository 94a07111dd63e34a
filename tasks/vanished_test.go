package tasks_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/storage"
	"github.com/partflow/partflow/tasks"
)

// completeBehindRedis sends every part of u's plan and completes its multipart upload
// straight to S3, recording nothing: what Redis shows after a failover rewound a finalizer's
// writes (the object is complete in S3, the record still says uploading with no parts).
func (e *env) completeBehindRedis(t *testing.T, u state.Upload, data []byte) {
	t.Helper()
	obj := storage.Object{Bucket: u.Bucket, Key: u.Key}
	plan := storage.PartPlan{Size: u.Size, PartSize: u.PartSize, Parts: u.Parts}
	var parts []storage.Part
	for n := 1; n <= u.Parts; n++ {
		off, length := plan.Part(n)
		p, err := e.storage.UploadPart(e.ctx, obj, u.S3UploadID, n, data[off:off+length], storage.ObjectOptions{})
		require.NoError(t, err, "part %d straight to S3", n)
		parts = append(parts, p)
	}
	_, err := e.storage.CompleteUpload(e.ctx, obj, u.S3UploadID, parts, storage.ObjectOptions{})
	require.NoError(t, err, "Complete straight to S3")
}

// withoutProxy makes e's handlers talk to the S3 server without the fault proxy, which turns
// versitygw's early NoSuchUpload answer (before it reads the body) into a 502.
func (e *env) withoutProxy(t *testing.T) {
	t.Helper()
	s3, err := storage.NewMinio(storage.Config{Endpoint: e.s3.Endpoint, AccessKey: e.s3.AccessKey,
		SecretKey: e.s3.SecretKey, MaxRetries: 1})
	require.NoError(t, err)
	t.Cleanup(s3.CloseIdleConnections)
	e.storage = s3
	e.handlers, err = tasks.NewHandlers(tasks.Config{Store: e.store, S3: s3, Sources: e.volume, Queue: e.queue,
		Logger: quietLogger(), Tasks: asynq.NewInspectorFromRedisClient(e.rdb), NoInlineFinalize: true})
	require.NoError(t, err)
}

// A rerun part that finds its multipart upload gone because a finalizer completed it (and a
// Redis failover lost the records) completes the upload instead of failing it: the object
// under the key is the source's bytes.
func TestVanishedUploadThatCompletedIsRecordedCompleted(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.withoutProxy(t)
	sum := e.writeFile(t, "f", 2*5*mib+1024)
	data, err := os.ReadFile(filepath.Join(e.dir, "f"))
	require.NoError(t, err)
	id := e.put(t, "f", "k", storage.MinPartSize)
	u := e.plan(t, id)
	require.Equal(t, 3, u.Parts)
	e.completeBehindRedis(t, u, data)

	// The last part is 1 KiB: sent whole before versitygw answers NoSuchUpload.
	require.NoError(t, e.runPart(id, 3), "the rerun part finds NoSuchUpload and the completed object")
	u, err = e.store.GetUpload(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, state.Uploading, u.State, "the parts are recorded; the finalizer records completion")
	require.Equal(t, 3, u.PartsDone, "the parts the record lacked are recorded from the source")
	require.NoError(t, e.runFinalize(id))
	u, err = e.store.GetUpload(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, state.Completed, u.State, u.Error)
	require.Equal(t, sum, e.objectSHA256(t, "k"))
}

// The same NoSuchUpload with another object under the key (other bytes, same size) still
// fails the upload, as a multipart upload aborted outside partflow.
func TestVanishedUploadWithOtherBytesFails(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.withoutProxy(t)
	e.writeFile(t, "f", 2*5*mib+1024)
	data, err := os.ReadFile(filepath.Join(e.dir, "f"))
	require.NoError(t, err)
	id := e.put(t, "f", "k", storage.MinPartSize)
	u := e.plan(t, id)
	other := append([]byte(nil), data...)
	other[len(other)-1] ^= 0xff
	e.completeBehindRedis(t, u, other)

	err = e.runPart(id, 3)
	require.Error(t, err)
	u, err = e.store.GetUpload(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, state.Failed, u.State)
	require.Contains(t, u.Error, "no longer exists in S3")
}
