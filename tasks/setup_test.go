package tasks_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/minio/minio-go/v7"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/localstack"
	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/testenv"
	"github.com/partflow/partflow/internal/worker"
	"github.com/partflow/partflow/storage"
	"github.com/partflow/partflow/tasks"
)

const mib = 1 << 20

// env is one test's own stack: redis-server, versitygw behind a fault proxy, a volume.
type env struct {
	ctx      context.Context
	redis    *localstack.Redis
	rdb      *redis.Client
	store    *state.Store
	s3       *localstack.S3
	proxy    *testenv.Proxy
	storage  *storage.Minio
	direct   *minio.Client // straight to the S3 server, for checking objects
	bucket   string
	dir      string // the volume root
	volume   *source.Volume
	queue    *asynq.Client
	client   *client.Client
	handlers *tasks.Handlers
}

func setup(t *testing.T) *env {
	t.Helper()
	e := &env{ctx: context.Background()}
	e.redis = testenv.Redis(t)
	e.rdb = testenv.RedisClient(t, e.redis)
	var err error
	e.store, err = state.New(e.rdb, state.Config{Retention: time.Hour})
	require.NoError(t, err)
	e.s3 = testenv.S3(t)
	e.proxy = testenv.NewProxy(t, e.s3.Endpoint)
	e.storage, err = storage.NewMinio(storage.Config{Endpoint: e.proxy.URL(), AccessKey: e.s3.AccessKey,
		SecretKey: e.s3.SecretKey, MaxRetries: 1})
	require.NoError(t, err)
	t.Cleanup(e.storage.CloseIdleConnections)
	e.direct = testenv.MinioClient(t, e.s3.Endpoint, e.s3)
	e.bucket = testenv.Bucket(t, e.s3)
	e.dir = t.TempDir()
	e.volume, err = source.OpenVolume(e.dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.volume.Close() })
	e.queue = asynq.NewClientFromRedisClient(e.rdb)
	t.Cleanup(func() { _ = e.queue.Close() })
	e.client, err = client.New(e.rdb, client.Config{Retention: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.client.Close() })
	e.handlers, err = tasks.NewHandlers(tasks.Config{Store: e.store, S3: e.storage, Sources: e.volume, Queue: e.queue,
		Logger: quietLogger(), Tasks: asynq.NewInspectorFromRedisClient(e.rdb)})
	require.NoError(t, err)
	return e
}

func quietLogger() *slog.Logger {
	if os.Getenv("PARTFLOW_TEST_LOGS") != "" { // set it to see the handlers' logs
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startWorker runs an in-process worker (the same wiring as cmd/worker) until the test ends;
// options adjust its config.
func (e *env) startWorker(t *testing.T, options ...func(*worker.Config)) {
	t.Helper()
	cfg := worker.Config{Redis: e.rdb, S3: e.storage, Sources: e.volume, Logger: quietLogger(),
		Concurrency: 4, ShutdownTimeout: 5 * time.Second, Retention: time.Hour, PollInterval: 50 * time.Millisecond,
		RetryDelay: func(int, error, *asynq.Task) time.Duration { return 50 * time.Millisecond }, JanitorInterval: -1}
	for _, o := range options {
		o(&cfg)
	}
	w, err := worker.New(cfg)
	require.NoError(t, err)
	require.NoError(t, w.Start())
	t.Cleanup(w.Shutdown)
}

// writeFile writes size pseudo-random bytes to the volume and returns their SHA-256.
func (e *env) writeFile(t *testing.T, name string, size int) string {
	t.Helper()
	path := filepath.Join(e.dir, name)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	data := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{byte(size), byte(size >> 8), byte(size >> 16), 7})
	_, _ = rng.Read(data)
	require.NoError(t, os.WriteFile(path, data, 0o644))
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// put enqueues an upload of a volume file through the client API.
func (e *env) put(t *testing.T, src, key string, partSize int64) state.UploadID {
	t.Helper()
	id, err := e.client.Put(e.ctx, client.PutRequest{Source: src, Bucket: e.bucket, Key: key, PartSize: partSize})
	require.NoError(t, err)
	return state.UploadID(id)
}

// wait polls until the upload is terminal and returns its record.
func (e *env) wait(t *testing.T, id state.UploadID) state.Upload {
	t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 2*time.Minute)
	defer cancel()
	u, err := e.client.WaitUpload(ctx, client.UploadID(id), nil)
	require.NoError(t, err, "waiting for upload %s to finish (last state %s, %d/%d parts)", id, u.State, u.PartsDone, u.Parts)
	rec, err := e.store.GetUpload(ctx, id)
	require.NoError(t, err, "reading upload %s", id)
	return rec
}

// objectSHA256 reads an object straight from the S3 server.
func (e *env) objectSHA256(t *testing.T, key string) string {
	t.Helper()
	obj, err := e.direct.GetObject(e.ctx, e.bucket, key, minio.GetObjectOptions{})
	require.NoError(t, err)
	defer obj.Close()
	h := sha256.New()
	_, err = io.Copy(h, obj)
	require.NoError(t, err, "reading %s/%s", e.bucket, key)
	return hex.EncodeToString(h.Sum(nil))
}

// requireNoObject checks that nothing was written under key.
func (e *env) requireNoObject(t *testing.T, key string) {
	t.Helper()
	_, err := e.storage.StatObject(e.ctx, storage.Object{Bucket: e.bucket, Key: key}, storage.ObjectOptions{})
	require.ErrorIs(t, err, storage.ErrNoSuchKey, "no object may exist at %s", key)
}

// requireNoMultipart checks that no incomplete multipart upload is left in the bucket.
func (e *env) requireNoMultipart(t *testing.T) {
	t.Helper()
	ups, err := e.storage.ListUploads(e.ctx, e.bucket, "")
	require.NoError(t, err)
	require.Empty(t, ups, "incomplete multipart uploads must be aborted, not leaked")
}

// plan runs upload:start for an upload directly (no server) and returns the planned record.
func (e *env) plan(t *testing.T, id state.UploadID) state.Upload {
	t.Helper()
	require.NoError(t, e.handlers.HandleStartTask(e.ctx, tasks.NewStartTask(id)))
	u, err := e.store.GetUpload(e.ctx, id)
	require.NoError(t, err)
	return u
}

// runPart runs the task of part n of the upload's current plan directly (no server).
func (e *env) runPart(id state.UploadID, n int) error {
	u, err := e.store.GetUpload(e.ctx, id)
	if err != nil {
		return err
	}
	return e.handlers.HandlePartTask(e.ctx, tasks.NewPartTask(u, n, tasks.QueueDefault))
}

func (e *env) runFinalize(id state.UploadID) error {
	return e.handlers.HandleFinalizeTask(e.ctx, tasks.NewFinalizeTask(id, 0))
}

func clientReq(src, bucket string) client.PutRequest {
	return client.PutRequest{Source: src, Bucket: bucket, Key: "obj/" + src}
}

func sourceInfo(u state.Upload) source.Info {
	return source.Info{Size: u.Size, Fingerprint: u.Fingerprint}
}
