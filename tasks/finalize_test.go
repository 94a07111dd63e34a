package tasks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/minio/minio-go/v7"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/testenv"
	"github.com/partflow/partflow/storage"
	"github.com/partflow/partflow/tasks"
)

// uploaded returns an upload of a 3-part file with every part uploaded and recorded, and the
// file's SHA-256.
func (e *env) uploaded(t *testing.T) (state.UploadID, string) {
	t.Helper()
	sum := e.writeFile(t, "f", 2*5*mib+123)
	id := e.put(t, "f", "k", storage.MinPartSize)
	e.plan(t, id)
	for n := 1; n <= 3; n++ {
		require.NoError(t, e.runPart(id, n))
	}
	return id, sum
}

// completedEvents counts the transitions to completed published for an upload.
func completedEvents(t *testing.T, rdb *redis.Client, id state.UploadID) func() int {
	t.Helper()
	sub := rdb.Subscribe(t.Context(), state.EventsChannel)
	_, err := sub.Receive(t.Context())
	require.NoError(t, err)
	var mu sync.Mutex
	n := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for msg := range sub.Channel() {
			var ev struct{ Upload, State string }
			if json.Unmarshal([]byte(msg.Payload), &ev) == nil && ev.Upload == id.String() && ev.State == "completed" {
				mu.Lock()
				n++
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { _ = sub.Close(); <-done })
	return func() int {
		time.Sleep(100 * time.Millisecond) // let in-flight Pub/Sub messages arrive
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

const (
	childEnv      = "PARTFLOW_TEST_FINALIZE_CHILD"
	childRedisEnv = "PARTFLOW_TEST_REDIS_URL"
	childS3Env    = "PARTFLOW_TEST_S3"
	childVolEnv   = "PARTFLOW_TEST_VOLUME"
)

// TestFinalizeRace races 50 goroutines here and 3 processes of 10 goroutines each to finalize
// one upload: exactly one CompleteMultipartUpload may reach S3 and exactly one transition to
// completed may be recorded.
func TestFinalizeRace(t *testing.T) {
	t.Parallel()
	e := setup(t)
	id, sum := e.uploaded(t)
	completed := completedEvents(t, e.rdb, id)

	const procs = 3
	var children []*exec.Cmd
	for i := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+id.String(), childRedisEnv+"="+e.redis.URL(),
			childS3Env+"="+e.proxy.URL()+" "+e.s3.AccessKey+" "+e.s3.SecretKey, childVolEnv+"="+e.dir)
		out := &strings.Builder{}
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start())
		children = append(children, cmd)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("finalizer process %d output:\n%s", i, out)
			}
		})
	}
	require.Eventually(t, func() bool {
		n, _ := e.rdb.Get(e.ctx, "race:ready").Int()
		return n == procs
	}, time.Minute, 5*time.Millisecond, "waiting for %d finalizer processes to be ready", procs)

	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			<-start
			errs <- e.runFinalize(id)
		})
	}
	require.NoError(t, e.rdb.Set(e.ctx, "race:go", 1, 0).Err())
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			require.ErrorContains(t, err, "another finalizer holds the upload", "a losing finalizer must only wait for the winner")
		}
	}
	for i, c := range children {
		// A child exits non-zero when any of its finalizers failed otherwise than by losing.
		require.NoError(t, c.Wait(), "finalizer process %d", i)
	}

	require.Equal(t, 1, e.proxy.Count(testenv.OpCompleteMultipartUpload), "exactly one CompleteMultipartUpload must reach S3")
	require.Equal(t, 1, e.proxy.CountStatus(testenv.OpCompleteMultipartUpload, 200))
	require.Equal(t, 1, completed(), "exactly one transition to completed")
	u, err := e.store.GetUpload(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, state.Completed, u.State)
	m, err := e.store.GetMigration(e.ctx, id.Migration)
	require.NoError(t, err)
	require.EqualValues(t, 1, m.Completed, "the migration counts the upload once")
	require.Equal(t, sum, e.objectSHA256(t, "k"))
}

// finalizeChild is the body of a racing finalizer process (see TestMain).
func finalizeChild() int {
	ctx := context.Background()
	id, err := state.ParseUploadID(os.Getenv(childEnv))
	if err != nil {
		fmt.Println(err)
		return 1
	}
	opt, err := redis.ParseURL(os.Getenv(childRedisEnv))
	if err != nil {
		fmt.Println(err)
		return 1
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	var endpoint, access, secret string
	fmt.Sscan(os.Getenv(childS3Env), &endpoint, &access, &secret)
	s3, err := storage.NewMinio(storage.Config{Endpoint: endpoint, AccessKey: access, SecretKey: secret})
	if err != nil {
		fmt.Println(err)
		return 1
	}
	store, err := state.New(rdb, state.Config{})
	if err != nil {
		fmt.Println(err)
		return 1
	}
	vol, err := source.OpenVolume(os.Getenv(childVolEnv))
	if err != nil {
		fmt.Println(err)
		return 1
	}
	queue := asynq.NewClientFromRedisClient(rdb)
	h, err := tasks.NewHandlers(tasks.Config{Store: store, S3: s3, Sources: vol, Queue: queue, Logger: quietLogger()})
	if err != nil {
		fmt.Println(err)
		return 1
	}
	rdb.Incr(ctx, "race:ready")
	for rdb.Get(ctx, "race:go").Val() != "1" {
		time.Sleep(time.Millisecond)
	}
	var wg sync.WaitGroup
	results := make([]error, 10)
	for i := range results {
		wg.Go(func() { results[i] = h.HandleFinalizeTask(ctx, tasks.NewFinalizeTask(ctx, id, 0)) })
	}
	wg.Wait()
	status := 0
	for i, err := range results {
		switch {
		case err == nil:
			fmt.Printf("finalizer %d: ok\n", i)
		case strings.Contains(err.Error(), "another finalizer holds the upload"):
			fmt.Printf("finalizer %d: lost the race (%v)\n", i, err)
		default:
			fmt.Printf("finalizer %d: FAILED: %s\n", i, strconv.Quote(err.Error()))
			status = 1 // the parent's c.Wait() reports it
		}
	}
	return status
}

func TestFinalizeAfterADeadFinalizerCompletedIt(t *testing.T) {
	t.Parallel()
	for _, minio := range []bool{false, true} {
		t.Run(fmt.Sprintf("minio=%v", minio), func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			if minio {
				e.proxy.EmulateMinIOComplete() // a repeated Complete answers NoSuchUpload
			}
			id, sum := e.uploaded(t)
			e.deadFinalizer(t, id)

			require.NoError(t, e.runFinalize(id))
			u, err := e.store.GetUpload(e.ctx, id)
			require.NoError(t, err)
			require.Equal(t, state.Completed, u.State, u.Error)
			require.Equal(t, sum, e.objectSHA256(t, "k"))
			if minio {
				require.Equal(t, 1, e.proxy.CountStatus(testenv.OpCompleteMultipartUpload, 404),
					"the second Complete must have been answered NoSuchUpload")
			}
		})
	}
}

func TestFinalizeNoSuchUploadWithAnotherObjectFails(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.proxy.EmulateMinIOComplete()
	id, _ := e.uploaded(t)
	e.deadFinalizer(t, id)
	// Something else overwrote the key after the dead finalizer's Complete.
	_, err := e.direct.PutObject(e.ctx, e.bucket, "k", bytesReader("other"), 5, minio.PutObjectOptions{})
	require.NoError(t, err)

	err = e.runFinalize(id)
	require.ErrorIs(t, err, asynq.SkipRetry)
	u, err := e.store.GetUpload(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, state.Failed, u.State)
	require.Contains(t, u.Error, "does not hold the assembled object")
}

func TestFinalizeRetriesAfterAnS3Error(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.proxy.SetFault(func(r testenv.Request) testenv.Fault {
		if r.Op == testenv.OpCompleteMultipartUpload && r.Seq <= 2 {
			return testenv.Fault{Status: 500, Code: "InternalError"}
		}
		return testenv.Fault{}
	})
	sum := e.writeFile(t, "f", 2*5*mib+1)
	e.startWorker(t)
	id := e.put(t, "f", "k", storage.MinPartSize)
	u := e.wait(t, id)
	require.Equal(t, state.Completed, u.State, u.Error)
	require.Equal(t, sum, e.objectSHA256(t, "k"))
	require.GreaterOrEqual(t, e.proxy.Count(testenv.OpCompleteMultipartUpload), 3)
}

// deadFinalizer plays a finalizer that claimed the upload, completed it in S3 and died before
// recording it: its claim is already lapsed.
func (e *env) deadFinalizer(t *testing.T, id state.UploadID) {
	t.Helper()
	u, err := e.store.GetUpload(e.ctx, id)
	require.NoError(t, err)
	c, err := e.store.ClaimComplete(e.ctx, id, u.Version, time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, state.ResultOK, c.Result)
	recorded, err := e.store.PartETags(e.ctx, id)
	require.NoError(t, err)
	_, err = e.storage.CompleteUpload(e.ctx, storage.Object{Bucket: e.bucket, Key: "k"}, u.S3UploadID,
		recordedParts(u, recorded), storage.ObjectOptions{})
	require.NoError(t, err)
	time.Sleep(5 * time.Millisecond) // the 1 ms claim lapses
}

// recordedParts decodes an upload's recorded parts as the finalizer does.
func recordedParts(u state.Upload, recorded []state.PartETag) []storage.Part {
	plan := storage.PartPlan{Size: u.Size, PartSize: u.PartSize, Parts: u.Parts}
	parts := make([]storage.Part, len(recorded))
	for i, r := range recorded {
		_, length := plan.Part(r.Number)
		parts[i] = tasks.ParsePartRecord(r.Number, length, r.ETag)
	}
	return parts
}
