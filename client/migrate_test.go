package client_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/minio/minio-go/v7"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/listing"
	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/testenv"
	"github.com/partflow/partflow/internal/worker"
	"github.com/partflow/partflow/storage"
)

// bundle is one test's Redis, client and volume; withS3 adds versitygw and an in-process worker.
type bundle struct {
	ctx    context.Context
	rdb    *redis.Client
	pf     *client.Client
	store  *state.Store
	dir    string // the volume root
	root   *os.Root
	bucket string
	direct *minio.Client
	s3     storage.Multipart
	volume *source.Volume
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{ctx: t.Context(), bucket: "pf-nobucket", dir: t.TempDir()}
	b.rdb = testenv.RedisClient(t, testenv.Redis(t))
	var err error
	b.pf, err = client.New(b.rdb, client.Config{Retention: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.pf.Close() })
	b.store, err = state.New(b.rdb, state.Config{Retention: time.Hour})
	require.NoError(t, err)
	b.root, err = os.OpenRoot(b.dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.root.Close() })
	return b
}

// withWorker starts versitygw, a bucket and an in-process worker on the volume.
func (b *bundle) withWorker(t *testing.T) {
	t.Helper()
	s3 := testenv.S3(t)
	b.bucket = testenv.Bucket(t, s3)
	b.direct = testenv.MinioClient(t, s3.Endpoint, s3)
	st, err := storage.NewMinio(storage.Config{Endpoint: s3.Endpoint, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey})
	require.NoError(t, err)
	t.Cleanup(st.CloseIdleConnections)
	b.volume, err = source.OpenVolume(b.dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.volume.Close() })
	w, err := worker.New(worker.Config{Redis: b.rdb, S3: st, Sources: b.volume, Concurrency: 4,
		Logger: slog.New(slog.DiscardHandler), ShutdownTimeout: 5 * time.Second, Retention: time.Hour,
		PollInterval: 50 * time.Millisecond, RetryDelay: func(int, error, *asynq.Task) time.Duration { return 50 * time.Millisecond }})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	t.Cleanup(w.Shutdown)
}

// writeFiles writes n files of random small sizes under dir and returns their SHA-256 by path.
func (b *bundle) writeFiles(t *testing.T, dir string, n int) map[string][32]byte {
	t.Helper()
	sums := map[string][32]byte{}
	rng := rand.New(rand.NewPCG(uint64(n), 1))
	for i := range n {
		rel := fmt.Sprintf("%s/d%d/f%03d.txt", dir, i%3, i)
		data := make([]byte, rng.IntN(3000))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		require.NoError(t, os.MkdirAll(filepath.Join(b.dir, filepath.Dir(rel)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(b.dir, rel), data, 0o644))
		sums[rel] = sha256.Sum256(data)
	}
	return sums
}

// pendingTasks counts the tasks waiting or running (not the archived ones).
func (b *bundle) pendingTasks(t *testing.T) int {
	t.Helper()
	insp := asynq.NewInspectorFromRedisClient(b.rdb)
	n := 0
	for _, q := range []string{"high", "default", "low"} {
		info, err := insp.GetQueueInfo(q)
		if err != nil {
			continue // the queue was never used
		}
		n += info.Pending + info.Active + info.Scheduled + info.Retry
	}
	return n
}

func TestMigrateWaitAndReport(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.withWorker(t)
	sums := b.writeFiles(t, "data", 30)
	items := func(yield func(client.MigrationItem, error) bool) {
		for it, err := range listing.WalkVolume(b.root, "data", nil) {
			if !yield(it, err) {
				return
			}
		}
		yield(client.MigrationItem{Source: "data/missing", Key: "missing"}, nil)
	}
	req := client.MigrateRequest{Bucket: b.bucket, Prefix: "out/", Source: "dir:data", Items: items,
		Priority: client.PriorityLow}
	res, err := b.pf.Migrate(b.ctx, req)
	require.NoError(t, err)
	require.Equal(t, client.DeriveMigrationID(b.bucket, "out/", "dir:data"), res.ID)
	require.True(t, res.MigrationCreated)
	require.True(t, res.Sealed)
	require.EqualValues(t, 31, res.Created)
	var bytes int64
	for rel := range sums {
		st, err := os.Stat(filepath.Join(b.dir, rel))
		require.NoError(t, err)
		bytes += st.Size()
	}
	require.Equal(t, bytes, res.Bytes)

	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	var calls atomic.Int64
	m, err := b.pf.WaitMigration(ctx, res.ID, func(client.Migration) { calls.Add(1) })
	require.NoError(t, err, "waiting for migration %s", res.ID)
	require.Positive(t, calls.Load())
	require.Equal(t, "low", m.Queue)
	rep, err := b.pf.MigrationReport(b.ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, client.MigrationFailed, rep.State)
	require.Equal(t, [4]int64{31, 30, 1, 0}, [4]int64{rep.Total, rep.Completed, rep.Failed, rep.Cancelled})
	require.Equal(t, bytes, rep.BytesDone)
	require.Equal(t, bytes, rep.BytesTotal)
	require.Len(t, rep.Failures, 1)
	require.Equal(t, "out/missing", rep.Failures[0].Key)
	require.Contains(t, rep.Failures[0].Error, "no such file")

	for rel, sum := range sums {
		obj, err := b.direct.GetObject(b.ctx, b.bucket, "out/"+rel[len("data/"):], minio.GetObjectOptions{})
		require.NoError(t, err)
		h := sha256.New()
		_, err = io.Copy(h, obj)
		obj.Close()
		require.NoError(t, err, rel)
		require.Equal(t, sum[:], h.Sum(nil), rel)
	}

	// The same migration again: nothing new.
	again, err := b.pf.Migrate(b.ctx, req)
	require.NoError(t, err)
	require.False(t, again.MigrationCreated)
	require.Equal(t, [3]int64{0, 31, 0}, [3]int64{again.Created, again.Existing, again.Requeued})
	require.Zero(t, b.pendingTasks(t))
}

func TestMigrateCarriesOnAfterInterruption(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var items []client.MigrationItem
	for i := range 500 {
		items = append(items, client.MigrationItem{Source: fmt.Sprintf("s/%d", i), Key: fmt.Sprintf("k/%d", i)})
	}
	req := client.MigrateRequest{ID: "interrupted", Bucket: "pf-bucket", Items: client.ItemsOf(items...), Concurrency: 1,
		ProgressInterval: time.Nanosecond}
	ctx, cancel := context.WithCancel(b.ctx)
	req.Progress = func(r client.MigrateResult) {
		if r.Items >= 100 {
			cancel()
		}
	}
	res, err := b.pf.Migrate(ctx, req)
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, res.Sealed)
	require.Less(t, res.Items, int64(500))
	m, err := b.store.GetMigration(b.ctx, "interrupted")
	require.NoError(t, err)
	require.False(t, m.Sealed, "an interrupted migration stays open")

	// As if the enqueuer died between writing an upload and enqueueing its start task.
	lost := state.DeriveUploadID("interrupted", "pf-bucket", "k/499", "s/499")
	created, err := b.store.CreateUpload(b.ctx, state.NewUpload{ID: lost, Source: "s/499", Bucket: "pf-bucket", Key: "k/499"})
	require.NoError(t, err)
	require.True(t, created)

	req.Progress = nil
	res2, err := b.pf.Migrate(b.ctx, req)
	require.NoError(t, err)
	require.True(t, res2.Sealed)
	require.EqualValues(t, 500, res2.Items)
	require.EqualValues(t, 500, res2.Created+res2.Existing)
	// The upload written by hand lost its start task, and so may the one the cancellation
	// cut off between its record and its task.
	require.GreaterOrEqual(t, res2.Requeued, int64(1))
	require.LessOrEqual(t, res2.Requeued, int64(2))
	m, err = b.store.GetMigration(b.ctx, "interrupted")
	require.NoError(t, err)
	require.EqualValues(t, 500, m.Total)
	require.Equal(t, 500, b.pendingTasks(t), "one start task per upload")
}

func TestMigrateInvalidItems(t *testing.T) {
	t.Parallel()
	b := setup(t)
	items := client.ItemsOf(
		client.MigrationItem{Source: "a", Key: "one"},
		client.MigrationItem{Source: "../etc/passwd", Key: "two", Where: "line 2"},
		client.MigrationItem{Source: "c", Key: "three"},
	)
	req := client.MigrateRequest{ID: "invalid", Bucket: "pf-bucket", Items: items, Concurrency: 1}
	plan, err := req.Plan(5)
	require.NoError(t, err)
	require.Equal(t, client.MigrationPlan{Valid: 2, Invalid: 1, FirstKeys: []string{"pf-bucket/one", "pf-bucket/three"}}, plan)

	_, err = b.pf.Migrate(b.ctx, req)
	var ie *client.ItemError
	require.ErrorAs(t, err, &ie)
	require.ErrorIs(t, err, client.ErrInvalid)
	require.Equal(t, "line 2", ie.Where)
	require.Contains(t, err.Error(), "line 2: source: \"../etc/passwd\" contains '..'")

	var reported []error
	req.SkipInvalid, req.OnInvalid = true, func(err error) { reported = append(reported, err) }
	res, err := b.pf.Migrate(b.ctx, req)
	require.NoError(t, err)
	require.EqualValues(t, 2, res.Items)
	require.EqualValues(t, 1, res.Invalid)
	require.Len(t, reported, 1)

	req.Prefix = "elsewhere/"
	_, err = b.pf.Migrate(b.ctx, req)
	require.ErrorIs(t, err, client.ErrInvalid)
	require.Contains(t, err.Error(), "migration invalid exists for", "an ID names one migration")

	for _, bad := range []client.MigrateRequest{
		{Bucket: "Bad_Bucket", Source: "x", Items: items},
		{Bucket: "pf-bucket", Items: items}, // no ID, nothing to derive it from
		{Bucket: "pf-bucket", ID: "Bad.ID", Items: items},
		{Bucket: "pf-bucket", Source: "x", Items: items, Priority: "urgent"},
		{Bucket: "pf-bucket", Source: "x", Items: items, PartSize: 1 << 20},
		{Bucket: "pf-bucket", Source: "x", Items: items, AllowURLHosts: []string{"http://x"}},
		{Bucket: "pf-bucket", Source: "x"},
	} {
		_, err := b.pf.Migrate(b.ctx, bad)
		require.ErrorIs(t, err, client.ErrInvalid, "%+v", bad)
	}
}

func TestFailuresListsEveryFailedUpload(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const n = 10_500 // more than asynq's archive keeps
	mid := "many-failures"
	_, err := b.store.CreateMigration(b.ctx, state.NewMigration{ID: mid, Bucket: "pf-bucket", Queue: "default"})
	require.NoError(t, err)
	errs := make(chan error, 8)
	for w := range 8 {
		go func() {
			for i := w; i < n; i += 8 {
				key := fmt.Sprintf("k/%05d", i)
				id := state.DeriveUploadID(mid, key)
				if _, err := b.store.CreateUpload(b.ctx, state.NewUpload{ID: id, Source: "s", Bucket: "pf-bucket", Key: key}); err != nil {
					errs <- err
					return
				}
				if _, err := b.store.Fail(b.ctx, id, "reason "+key); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		require.NoError(t, <-errs)
	}
	require.NoError(t, b.store.SealMigration(b.ctx, mid))

	seen := map[string]bool{}
	for f, err := range b.pf.Failures(b.ctx, mid) {
		require.NoError(t, err)
		require.Equal(t, "reason "+f.Key, f.Error)
		require.False(t, seen[f.Key], "%s listed twice", f.Key)
		seen[f.Key] = true
	}
	require.Len(t, seen, n)
	rep, err := b.pf.MigrationReport(b.ctx, mid)
	require.NoError(t, err)
	require.EqualValues(t, n, rep.FailuresTotal)
	require.Len(t, rep.Failures, n)
	require.Equal(t, client.MigrationFailed, rep.State)
}

func TestWaitMigrationHonoursContext(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.store.CreateMigration(b.ctx, state.NewMigration{ID: "open", Bucket: "pf-bucket"})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(b.ctx, 300*time.Millisecond)
	defer cancel()
	m, err := b.pf.WaitMigration(ctx, "open", nil)
	require.ErrorIs(t, err, context.DeadlineExceeded, "an unsealed migration never finishes")
	require.Equal(t, client.MigrationEnqueuing, client.MigrationState(m))

	_, err = b.pf.WaitMigration(b.ctx, "nosuch", nil)
	require.True(t, errors.Is(err, client.ErrNotFound))
}

// TestAllowURLHostsParsedAsWorkersParseThem: the client checks --allow-url-host patterns with
// the workers' parser, so a pattern a worker accepts (an IPv6 literal) is not refused here,
// and one it refuses is refused before anything is enqueued.
func TestAllowURLHostsParsedAsWorkersParseThem(t *testing.T) {
	t.Parallel()
	items := client.ItemsOf(client.MigrationItem{Source: "http://[::1]:8080/a", Key: "a"})
	for _, ok := range [][]string{{"::1"}, {"[::1]"}, {"*.example.com", "127.0.0.1"}, {"*"}} {
		req := client.MigrateRequest{Bucket: "pf-bucket", Source: "x", Items: items, AllowURLHosts: ok}
		_, err := req.Plan(0)
		require.NoError(t, err, "%q is a pattern the workers accept", ok)
	}
	for _, bad := range [][]string{{"http://x"}, {"x/y"}, {"*."}, {"user@x"}, {"x:80"}} {
		req := client.MigrateRequest{Bucket: "pf-bucket", Source: "x", Items: items, AllowURLHosts: bad}
		_, err := req.Plan(0)
		require.ErrorIs(t, err, client.ErrInvalid, "%q", bad)
		require.Contains(t, err.Error(), "URL host pattern", "%q", bad)
	}
	req := client.MigrateRequest{Bucket: "pf-bucket", Source: "x", Items: items, AllowURLHosts: []string{"::1"}}
	plan, err := req.Plan(1)
	require.NoError(t, err)
	require.EqualValues(t, 1, plan.Valid, "the URL on [::1] is allowed by the pattern ::1")
}

// Migrating an S3 prefix writes no upload here: it records a fed migration whose feed spec is
// the prefix (as a folder), the destination, the options and the filter, and enqueues the
// feeder's first run; a re-run carries on the same migration with the next feeder run.
func TestMigrateS3PrefixIsFedFromTheFleet(t *testing.T) {
	t.Parallel()
	b := setup(t)
	req := client.MigrateRequest{Bucket: "dst-bucket", Prefix: "copied/", SourcePrefix: "s3://src-bucket/data", Window: 40,
		Options:  client.ObjectOptions{StorageClass: "STANDARD_IA"},
		Filter:   client.ListingFilter{Exclude: []string{"*.tmp"}, MinSize: 10},
		PartSize: 5 << 20}
	res, err := b.pf.Migrate(b.ctx, req)
	require.NoError(t, err)
	require.True(t, res.Fed)
	require.Equal(t, "s3://src-bucket/data/", res.Listing, "a prefix is a folder")
	require.Equal(t, client.DeriveMigrationID("dst-bucket", "copied/", "s3://src-bucket/data/"), res.ID)

	f, err := b.store.ClaimFeed(b.ctx, res.ID, 1)
	require.NoError(t, err)
	require.Equal(t, "s3", f.Spec.Kind)
	require.Equal(t, "s3://src-bucket/data/", f.Spec.Location)
	require.Equal(t, "dst-bucket", f.Spec.Bucket)
	require.Equal(t, "copied/", f.Spec.Prefix)
	require.Equal(t, 40, f.Spec.Window)
	require.Equal(t, int64(5<<20), f.Spec.PartSize)
	require.Equal(t, "STANDARD_IA", f.Spec.Options.StorageClass)
	require.JSONEq(t, `{"Include":null,"Exclude":["*.tmp"],"MinSize":10,"MaxSize":0,"NewerThan":"0001-01-01T00:00:00Z",`+
		`"OlderThan":"0001-01-01T00:00:00Z","FilesFrom":null}`, string(f.Spec.Filter))
	m, err := b.store.GetMigration(b.ctx, res.ID)
	require.NoError(t, err)
	require.True(t, m.Fed)
	require.Zero(t, m.Total, "the enqueuer lists nothing")

	inspector := asynq.NewInspectorFromRedisClient(b.rdb)
	_, err = inspector.GetTaskInfo("feed", res.ID+":feed:1")
	require.NoError(t, err, "the feeder's first run is enqueued")
	res2, err := b.pf.Migrate(b.ctx, req)
	require.NoError(t, err)
	require.Equal(t, res.ID, res2.ID)
	require.False(t, res2.MigrationCreated)
	_, err = inspector.GetTaskInfo("feed", res.ID+":feed:2")
	require.NoError(t, err, "a re-run enqueues the next feeder run (run 1 claimed the feed)")

	for _, bad := range []client.MigrateRequest{
		{Bucket: "dst-bucket", SourcePrefix: "s3://src-bucket/data/"},                                                   // no window
		{Bucket: "dst-bucket", SourcePrefix: "s3://Src_Bucket/data/", Window: 10},                                       // bucket name
		{Bucket: "dst-bucket", SourcePrefix: "s3://src-bucket/", Window: 10, Items: client.ItemsOf()},                   // both
		{Bucket: "dst-bucket", SourcePrefix: "s3://src-bucket/", Window: 10, Filter: client.ListingFilter{MinSize: -1}}, // filter
	} {
		_, err := b.pf.Migrate(b.ctx, bad)
		require.ErrorIs(t, err, client.ErrInvalid, "%+v", bad)
	}
}

// A windowed migration run again without a window is refused: its completed uploads were
// compacted, and writing its items into Redis would upload them again.
func TestFedMigrationIsNotRerunWithoutAWindow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	req := client.MigrateRequest{Bucket: "dst-bucket", SourcePrefix: "s3://src-bucket/data/", Window: 40}
	res, err := b.pf.Migrate(b.ctx, req)
	require.NoError(t, err)
	require.True(t, res.Fed)
	_, err = b.pf.Migrate(b.ctx, client.MigrateRequest{ID: res.ID, Bucket: "dst-bucket", Source: res.Listing,
		Items: client.ItemsOf(client.MigrationItem{Source: "s3://src-bucket/data/a", Key: "a"})})
	require.ErrorIs(t, err, client.ErrInvalid)
	require.Contains(t, err.Error(), "is windowed")
	m, err := b.store.GetMigration(b.ctx, res.ID)
	require.NoError(t, err)
	require.Zero(t, m.Total, "nothing was written into Redis")
}
