package e2e

// The chaos suite (`make chaos`, and part of `make test`): real worker processes migrate a
// directory of mixed-size files while faults are injected — SIGKILLs, a Redis crash, Redis
// data loss, S3 errors, a network partition, rolling restarts. Every scenario ends with the
// same verification:
//
//   - every object's SHA-256 equals its file's;
//   - the migration's counts are exact (every file completed once, nothing failed);
//   - exactly one CompleteMultipartUpload succeeded per multipart object (counted at the S3
//     proxy, which answers a repeated Complete as MinIO does);
//   - no incomplete multipart upload is left once the janitor has run.
//
// Flags scale it into a soak: go test ./internal/e2e -run TestChaosSoak -chaos.soak 30m.

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/liveness"
	"github.com/partflow/partflow/internal/testenv"
)

var (
	chaosFiles    = flag.Int("chaos.files", 60, "files in each chaos scenario's migration")
	chaosMultiple = flag.Int("chaos.multipart-every", 10, "every Nth file is multipart (6–14 MiB, 5 MiB parts); the rest are 0–256 KiB")
	chaosSoak     = flag.Duration("chaos.soak", 0, "TestChaosSoak: run migrations under every fault for this long (0 skips it)")
	chaosKill     = flag.Duration("chaos.kill-every", 3*time.Second, "mean time between worker kills")
)

// chaosStack is a stack whose workers reach S3 through a fault-injecting HTTP proxy and Redis
// through a TCP proxy each (so one worker can be cut off alone).
type chaosStack struct {
	*stack
	s3proxy *testenv.Proxy
	args    []string // every worker's arguments

	mu      sync.Mutex
	seq     int
	workers map[string]*chaosWorker
}

type chaosWorker struct {
	name  string
	cmd   *exec.Cmd
	redis *testenv.TCPProxy
	done  chan struct{}
}

func newChaosStack(t *testing.T, workers int, args ...string) *chaosStack {
	t.Helper()
	c := &chaosStack{stack: newStack(t), workers: map[string]*chaosWorker{}}
	c.s3proxy = testenv.NewProxy(t, c.s3.Endpoint)
	c.s3proxy.EmulateMinIOComplete()
	c.args = append([]string{"--concurrency", "4", "--shutdown-timeout", "5s", "--janitor-interval", "2s",
		"--orphan-grace", "3s", "--janitor-managed", c.bucket}, args...)
	t.Cleanup(c.stopAll)
	for range workers {
		c.startWorker(t)
	}
	return c
}

// startWorker starts one more worker process and returns its name.
func (c *chaosStack) startWorker(t *testing.T) string {
	t.Helper()
	name, err := c.startWorkerErr()
	require.NoError(t, err)
	return name
}

// startWorkerErr starts one more worker process; it is safe from any goroutine (the stack
// stops its workers and proxies on cleanup).
func (c *chaosStack) startWorkerErr() (string, error) {
	c.mu.Lock()
	c.seq++
	name := fmt.Sprintf("worker-%d", c.seq)
	c.mu.Unlock()
	rp, err := testenv.StartTCPProxy(c.redis.Addr())
	if err != nil {
		return "", err
	}
	logf, err := os.Create(filepath.Join(c.logs, name+".log"))
	if err != nil {
		rp.Close()
		return "", err
	}
	cmd := exec.Command(filepath.Join(binDir, "worker"), c.args...)
	cmd.Env = append(c.env(), "PARTFLOW_LOG_FORMAT=json", "PARTFLOW_METRICS_ADDR=",
		"PARTFLOW_S3_ENDPOINT="+c.s3proxy.URL(), "PARTFLOW_REDIS_URL=redis://"+rp.Addr()+"/0")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		rp.Close()
		return "", err
	}
	w := &chaosWorker{name: name, cmd: cmd, redis: rp, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(w.done) }()
	c.mu.Lock()
	c.workers[name] = w
	c.mu.Unlock()
	return name, nil
}

// stopAll stops every worker (SIGTERM) and its Redis proxy; newChaosStack registers it.
func (c *chaosStack) stopAll() {
	for _, n := range c.names() {
		c.stopWorker(n, syscall.SIGTERM)
	}
}

// stopWorker signals a worker and waits for it to exit; unknown or stopped names are a no-op.
func (c *chaosStack) stopWorker(name string, sig syscall.Signal) {
	c.mu.Lock()
	w := c.workers[name]
	delete(c.workers, name)
	c.mu.Unlock()
	if w == nil {
		return
	}
	_ = w.cmd.Process.Signal(sig)
	<-w.done
	w.redis.Close()
}

// names returns the running workers' names.
func (c *chaosStack) names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for n := range c.workers {
		out = append(out, n)
	}
	return out
}

// dataSet writes *chaosFiles files of mixed sizes under dir and returns their SHA-256 by path.
func (c *chaosStack) chaosData(t *testing.T, dir string, seed uint64) map[string]string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	sums := map[string]string{}
	for i := range *chaosFiles {
		size := rng.Int64N(256 << 10)
		switch {
		case i%*chaosMultiple == 0:
			size = 6*mib + rng.Int64N(8*mib)
		case i%7 == 0:
			size = 0
		}
		rel := fmt.Sprintf("d%d/f-%04d.bin", i%5, i)
		sums[rel] = c.writeFile(t, filepath.Join(dir, rel), size)
	}
	return sums
}

// migrate enqueues dir (keys under prefix) and returns the migration ID.
func (c *chaosStack) migrate(t *testing.T, dir, prefix string, extra ...string) string {
	t.Helper()
	args := append([]string{"migrate", "--source", dir, "--bucket", c.bucket, "--prefix", prefix,
		"--part-size", "5MiB", "--json"}, extra...)
	r := c.run(t, nil, args...)
	require.Equal(t, 0, r.code, "migrate: %s %s", r.stdout, r.stderr)
	out := decodeMigrate(t, r)
	require.NotEmpty(t, out.MigrationID, r.stdout)
	return out.MigrationID
}

// status reads a migration's report; ok is false while Redis cannot answer.
func (c *chaosStack) status(t *testing.T, id string) (reportOutput, bool) {
	t.Helper()
	r := c.run(t, nil, "status", id, "--json")
	var out reportOutput
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil {
		return out, false
	}
	return out, true
}

// waitDone polls the migration until every upload is terminal.
func (c *chaosStack) waitDone(t *testing.T, id string, within time.Duration) reportOutput {
	t.Helper()
	deadline := time.Now().Add(within)
	var last reportOutput
	for time.Now().Before(deadline) {
		if st, ok := c.status(t, id); ok {
			last = st
			if st.Total > 0 && st.Completed+st.Failed+st.Cancelled >= st.Total {
				return st
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	c.dumpLive(t)
	t.Fatalf("waited %v for migration %s to finish; last status: %+v", within, id, last)
	return last
}

// dumpLive logs every upload record that is not terminal, and asynq's tasks of those uploads,
// for a test that waited in vain.
func (c *chaosStack) dumpLive(t *testing.T) {
	t.Helper()
	rdb := c.rdb(t)
	keys, _ := rdb.Keys(context.Background(), "partflow:{*}:upload:*").Result()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	for _, k := range keys {
		if strings.HasSuffix(k, ":parts") {
			continue
		}
		h, _ := rdb.HGetAll(context.Background(), k).Result()
		switch h["state"] {
		case "completed", "failed", "cancelled":
			continue
		}
		t.Logf("live upload %s: %v", k, h)
		for _, q := range []string{"high", "default", "low"} {
			for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
				insp.ListPendingTasks, insp.ListActiveTasks, insp.ListRetryTasks, insp.ListArchivedTasks, insp.ListScheduledTasks} {
				infos, _ := list(q)
				for _, i := range infos {
					if strings.Contains(string(i.Payload), h["id"]) {
						t.Logf("  task %s %s %s retried %d: %s", q, i.ID, i.State, i.Retried, i.LastErr)
					}
				}
			}
		}
	}
}

// waitProgress polls until at least n uploads of the migration completed.
func (c *chaosStack) waitProgress(t *testing.T, id string, n int64) {
	t.Helper()
	require.Eventually(t, func() bool {
		st, ok := c.status(t, id)
		return ok && st.Completed >= n
	}, 2*time.Minute, 100*time.Millisecond, "waiting for %d uploads of %s to complete", n, id)
}

// verify is every scenario's ending: exact counts, byte-identical objects, one successful
// Complete per multipart object and no multipart upload left once the janitor ran.
func (c *chaosStack) verify(t *testing.T, st reportOutput, prefix string, sums map[string]string) {
	t.Helper()
	require.EqualValues(t, len(sums), st.Total, "uploads in the migration")
	require.EqualValues(t, len(sums), st.Completed, "every upload completed; failures: %+v", st.Failures)
	require.Zero(t, st.Failed, "failed uploads: %+v", st.Failures)
	c.requireObjects(t, prefix, sums)

	completes := map[string]int{}
	for _, e := range c.s3proxy.Exchanges() {
		if e.Op == testenv.OpCompleteMultipartUpload && e.Status == 200 && !e.Injected {
			completes[e.Key]++
		}
	}
	for key, n := range completes {
		require.Equal(t, 1, n, "successful CompleteMultipartUpload calls for %s", key)
	}
	var multipart int
	for rel := range sums {
		if info, err := c.direct.StatObject(context.Background(), c.bucket, prefix+rel, minio.StatObjectOptions{}); err == nil &&
			strings.Contains(info.ETag, "-") {
			multipart++
			require.Equal(t, 1, completes[prefix+rel], "a multipart object without exactly one successful Complete: %s", rel)
		}
	}
	t.Logf("verified %d objects (%d multipart) of migration %s", len(sums), multipart, st.ID)

	require.Eventually(t, func() bool {
		n := 0
		for range c.direct.ListIncompleteUploads(context.Background(), c.bucket, "", true) {
			n++
		}
		return n == 0
	}, 3*time.Minute, 500*time.Millisecond, "waiting for the janitor to leave no incomplete multipart upload")
}

// killer SIGKILLs a random worker about every `every` and starts a replacement, until the
// returned stop function is called (it returns how many it killed, and the first error). The
// test's cleanup stops it too, so it never outlives the test.
func (c *chaosStack) killer(t *testing.T, every time.Duration) (stop func() (int, error)) {
	t.Helper()
	done := make(chan struct{})
	type result struct {
		kills int
		err   error
	}
	out := make(chan result, 1)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	go func() {
		var r result
		defer func() { out <- r }()
		for {
			select {
			case <-done:
				return
			case <-time.After(every/2 + time.Duration(rng.Int64N(int64(every)))):
			}
			names := c.names()
			if len(names) == 0 {
				continue
			}
			c.stopWorker(names[rng.IntN(len(names))], syscall.SIGKILL)
			r.kills++
			if _, err := c.startWorkerErr(); err != nil && r.err == nil {
				r.err = err
			}
		}
	}()
	var once sync.Once
	var res result
	stop = func() (int, error) {
		once.Do(func() { close(done); res = <-out })
		return res.kills, res.err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// requireCompletedOnce checks the workers' logs: no upload was completed twice. (A SIGKILL
// between recording the completion and writing its log line can leave an upload with none,
// so the count may fall short; the migration's counters are the exact check.)
func (c *chaosStack) requireCompletedOnce(t *testing.T, n int) {
	t.Helper()
	require.LessOrEqual(t, c.logCount(t, "UploadCompleted"), n, "UploadCompleted log lines: no upload completes twice")
}

// faultMix is the share of S3 requests given each fault (tried in this order, each on the
// requests it applies to).
type faultMix struct {
	seed                               uint64
	slowDown, reset, corrupt, truncate float64 // any request; part and PUT bodies
	slowComplete, errorIn200           float64 // CompleteMultipartUpload
	firstOfEach                        bool    // the first Complete and the second part get one for sure
}

// injectS3Faults makes the workers' S3 proxy inject m; the returned function counts what it
// injected by kind.
func (c *chaosStack) injectS3Faults(m faultMix) func() map[string]int {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(m.seed, m.seed))
	counts := map[string]int{}
	count := func(kind string, f testenv.Fault) testenv.Fault { counts[kind]++; return f }
	c.s3proxy.SetFault(func(r testenv.Request) testenv.Fault {
		mu.Lock()
		defer mu.Unlock()
		body := r.Op == testenv.OpUploadPart || r.Op == testenv.OpPutObject
		complete := r.Op == testenv.OpCompleteMultipartUpload
		switch {
		case m.firstOfEach && complete && r.Seq == 1:
			return count("200-with-error", testenv.Fault{ErrorIn200: true})
		case m.firstOfEach && r.Op == testenv.OpUploadPart && r.Seq == 2:
			return count("truncated", testenv.Fault{TruncateBody: true})
		}
		x := rng.Float64()
		for _, f := range []struct {
			p     float64
			ok    bool
			kind  string
			fault testenv.Fault
		}{
			{m.slowDown, true, "503", testenv.Fault{Status: 503, Code: "SlowDown"}},
			{m.reset, true, "reset", testenv.Fault{Drop: true}},
			{m.corrupt, body, "corrupt", testenv.Fault{CorruptBody: true}},
			{m.truncate, body, "truncated", testenv.Fault{TruncateBody: true}},
			{m.slowComplete, complete, "slow-complete", testenv.Fault{Delay: 2 * time.Second}},
			{m.errorIn200, complete, "200-with-error", testenv.Fault{ErrorIn200: true}},
		} {
			if x < f.p && f.ok {
				return count(f.kind, f.fault)
			}
			x -= f.p
		}
		return testenv.Fault{}
	})
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(counts)
	}
}

// TestChaosWorkerKills: workers are SIGKILLed every second or so (replacements started)
// during a migration of mixed sizes; their running tasks are rescued by the others.
func TestChaosWorkerKills(t *testing.T) {
	t.Parallel()
	c := newChaosStack(t, 3, "--bwlimit", "8MiB")
	sums := c.chaosData(t, "src", 1)
	id := c.migrate(t, "src", "kills/")
	c.waitProgress(t, id, 1)
	stop := c.killer(t, min(*chaosKill, time.Second))
	c.waitProgress(t, id, int64(len(sums))/2)
	st := c.waitDone(t, id, 5*time.Minute)
	kills, err := stop()
	require.NoError(t, err, "starting replacement workers")
	rescued := c.logCount(t, "TaskRescued")
	t.Logf("%d workers killed, %d tasks rescued", kills, rescued)
	require.Positive(t, kills, "workers killed during the migration")
	require.Positive(t, rescued, "the killed workers' running tasks rerun on the others")
	c.verify(t, st, "kills/", sums)
	c.requireCompletedOnce(t, len(sums))
}

// TestChaosRedisCrash: redis-server is SIGKILLed mid-migration and restarted from its AOF.
func TestChaosRedisCrash(t *testing.T) {
	t.Parallel()
	c := newChaosStack(t, 2, "--bwlimit", "40MiB")
	sums := c.chaosData(t, "src", 2)
	id := c.migrate(t, "src", "crash/")
	c.waitProgress(t, id, int64(len(sums))/3)
	require.NoError(t, c.redis.Kill())
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	require.NoError(t, c.redis.Restart(ctx))
	c.verify(t, c.waitDone(t, id, 5*time.Minute), "crash/", sums)
	c.requireCompletedOnce(t, len(sums))
}

// TestChaosRedisDataLoss: Redis comes back empty mid-migration (its data lost). Re-running the
// same migrate command with --skip-existing finishes the migration: objects already verified
// in S3 are skipped, the rest uploaded, interrupted multipart uploads cleaned by the janitor.
func TestChaosRedisDataLoss(t *testing.T) {
	t.Parallel()
	c := newChaosStack(t, 2, "--bwlimit", "40MiB")
	sums := c.chaosData(t, "src", 3)
	id := c.migrate(t, "src", "loss/", "--skip-existing")
	c.waitProgress(t, id, int64(len(sums))/3)

	require.NoError(t, c.redis.Kill())
	entries, err := os.ReadDir(c.redis.Dir())
	require.NoError(t, err)
	for _, e := range entries {
		if e.Name() != "redis.log" {
			require.NoError(t, os.RemoveAll(filepath.Join(c.redis.Dir(), e.Name())))
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	require.NoError(t, c.redis.Restart(ctx))
	_, ok := c.status(t, id)
	require.False(t, ok, "the migration's records should be gone with Redis's data")

	again := c.migrate(t, "src", "loss/", "--skip-existing")
	require.Equal(t, id, again, "the re-run carries on the same (deterministic) migration")
	c.verify(t, c.waitDone(t, again, 5*time.Minute), "loss/", sums)
}

// TestChaosS3Faults: S3 answers 503 SlowDown to 10% of requests, resets 2% of connections,
// has 2% of part and PUT bodies cut off half-way and 1% arrive with a flipped byte, answers
// some Completes slowly and some with 200 and an <Error> body; the Redis connections carry a
// few milliseconds of latency.
func TestChaosS3Faults(t *testing.T) {
	t.Parallel()
	c := newChaosStack(t, 3)
	injected := c.injectS3Faults(faultMix{seed: 4, slowDown: 0.10, reset: 0.02, corrupt: 0.01, truncate: 0.02,
		slowComplete: 0.15, errorIn200: 0.15, firstOfEach: true})
	for _, n := range c.names() {
		c.mu.Lock()
		rp := c.workers[n].redis
		c.mu.Unlock()
		defer rp.Latency(t, 3, 2)()
	}
	sums := c.chaosData(t, "src", 5)
	id := c.migrate(t, "src", "faults/")
	st := c.waitDone(t, id, 5*time.Minute)
	c.s3proxy.SetFault(nil)
	counts := injected()
	t.Logf("faults injected: %v", counts)
	require.Positive(t, counts["200-with-error"], "a Complete answered 200 with an <Error> body")
	require.Positive(t, counts["truncated"], "a part cut off mid-body")
	c.verify(t, st, "faults/", sums)
	c.requireCompletedOnce(t, len(sums))
}

// TestChaosPartition: a worker's Redis traffic is held back (it still flows, 35 s late) for
// longer than asynq's 30 s lease while it uploads; the fleet reruns its tasks meanwhile, and
// its late writes, when they land, are harmless: every upload completes once.
func TestChaosPartition(t *testing.T) {
	t.Parallel()
	c := newChaosStack(t, 2, "--bwlimit", "4MiB")
	sums := c.chaosData(t, "src", 6)
	id := c.migrate(t, "src", "partition/")
	c.waitProgress(t, id, 3)
	names := c.names()
	c.mu.Lock()
	victim := c.workers[names[0]]
	c.mu.Unlock()
	heal := victim.redis.Latency(t, 35_000, 0)
	require.Eventually(t, func() bool { return c.logCount(t, "TaskRescued") > 0 }, time.Minute, 250*time.Millisecond,
		"waiting for the fleet to rerun the cut-off worker's tasks")
	time.Sleep(35 * time.Second) // past asynq's 30 s lease
	heal()
	c.verify(t, c.waitDone(t, id, 5*time.Minute), "partition/", sums)
	c.requireCompletedOnce(t, len(sums))
}

// TestChaosRollingRestart: every worker is replaced, one at a time, with SIGTERM. A graceful
// stop hands its tasks back to asynq: nothing looks dead, nothing is rescued.
func TestChaosRollingRestart(t *testing.T) {
	t.Parallel()
	c := newChaosStack(t, 3, "--bwlimit", "20MiB")
	sums := c.chaosData(t, "src", 7)
	id := c.migrate(t, "src", "rolling/")
	for _, n := range c.names() {
		c.waitProgress(t, id, 1)
		c.stopWorker(n, syscall.SIGTERM)
		c.startWorker(t)
	}
	c.verify(t, c.waitDone(t, id, 5*time.Minute), "rolling/", sums)
	c.requireCompletedOnce(t, len(sums))
	require.Zero(t, c.logCount(t, "TaskRescued"), "a worker stopped with SIGTERM must not look dead")
}

// TestChaosSoak runs every fault at once, migration after migration, for -chaos.soak.
func TestChaosSoak(t *testing.T) {
	if *chaosSoak <= 0 {
		t.Skip("soak: pass -chaos.soak DURATION (e.g. go test ./internal/e2e -run TestChaosSoak -chaos.soak 30m -timeout 0)")
	}
	c := newChaosStack(t, 4, "--bwlimit", "60MiB")
	injected := c.injectS3Faults(faultMix{seed: 9, slowDown: 0.05, reset: 0.01, corrupt: 0.005, truncate: 0.01,
		slowComplete: 0.1, errorIn200: 0.025})
	redisKills := 0
	stop := c.killer(t, *chaosKill)
	start := time.Now()
	var objects, bytes int64
	for round := 0; time.Since(start) < *chaosSoak; round++ {
		dir := fmt.Sprintf("soak-%03d", round)
		sums := c.chaosData(t, dir, uint64(100+round))
		id := c.migrate(t, dir, dir+"/")
		if round%5 == 4 { // now and then, a Redis crash too
			c.waitProgress(t, id, int64(len(sums))/2)
			require.NoError(t, c.redis.Kill())
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			require.NoError(t, c.redis.Restart(ctx))
			cancel()
			redisKills++
		}
		st := c.waitDone(t, id, 10*time.Minute)
		c.verify(t, st, dir+"/", sums)
		objects += st.Completed
		bytes += st.BytesDone
		require.NoError(t, os.RemoveAll(filepath.Join(c.volume, dir)))
		for obj := range c.direct.ListObjects(t.Context(), c.bucket, minio.ListObjectsOptions{Prefix: dir + "/", Recursive: true}) {
			require.NoError(t, obj.Err)
			require.NoError(t, c.direct.RemoveObject(t.Context(), c.bucket, obj.Key, minio.RemoveObjectOptions{}))
		}
		t.Logf("soak round %d done at %v: %d objects, %.1f MiB so far", round, time.Since(start).Round(time.Second),
			objects, float64(bytes)/mib)
	}
	kills, err := stop()
	require.NoError(t, err)
	t.Logf("soak: %v, %d objects, %.1f MiB, %d workers killed, %d Redis kills, S3 faults %v, %d tasks rescued, %d retries logged",
		time.Since(start).Round(time.Second), objects, float64(bytes)/mib, kills, redisKills, injected(),
		c.logCount(t, "TaskRescued"), c.logCount(t, "TaskRetry"))
}

// TestChaosTaskThatKeepsKillingItsWorker: whichever worker runs one part of an upload is
// SIGKILLed (as a cgroup OOM kill would), again and again, until asynq gives the task up and
// archives it. The upload then ends failed with that reason in the janitor's next run, keeping
// its uploaded parts for resume; every other upload is unharmed.
func TestChaosTaskThatKeepsKillingItsWorker(t *testing.T) {
	t.Parallel()
	c := newChaosStack(t, 2, "--part-retries", "1", "--bwlimit", "2MiB")
	c.writeFile(t, "src/poison.bin", 12*mib)
	r := c.enqueuer(t, "put", "--source", "src/poison.bin", "--bucket", c.bucket, "--key", "poison", "--part-size", "5MiB")
	require.Equal(t, 0, r.code, r.stderr)
	id := strings.TrimSpace(r.stdout)
	poison := id + ":part:2" // its rescued copies carry this prefix too
	rdb := c.rdb(t)

	deadline := time.Now().Add(6 * time.Minute)
	kills := 0
	var failed struct {
		State string `json:"state"`
		Error string `json:"error"`
	}
	var archivedAt time.Time
	for time.Now().Before(deadline) {
		st := c.enqueuer(t, "status", id, "--json")
		if st.code == 0 && json.Unmarshal([]byte(st.stdout), &failed) == nil && failed.State == "failed" {
			break
		}
		if archivedAt.IsZero() {
			archived, err := asynq.NewInspectorFromRedisClient(rdb).ListArchivedTasks("default")
			if err == nil {
				for _, a := range archived {
					if strings.HasPrefix(a.ID, poison) {
						archivedAt = time.Now()
					}
				}
			}
		}
		running, err := liveness.Running(t.Context(), rdb)
		require.NoError(t, err)
		for instance, ids := range running {
			if !slices.ContainsFunc(ids, func(s string) bool { return strings.HasPrefix(s, poison) }) {
				continue
			}
			pid, err := strconv.Atoi(strings.Split(instance, ":")[1])
			require.NoError(t, err, instance)
			for _, n := range c.names() {
				c.mu.Lock()
				w := c.workers[n]
				c.mu.Unlock()
				if w != nil && w.cmd.Process.Pid == pid {
					c.stopWorker(n, syscall.SIGKILL)
					kills++
					c.startWorker(t)
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	require.Equal(t, "failed", failed.State, "the upload should end failed once asynq archived its part task")
	require.Contains(t, failed.Error, "archived")
	// The kills take down whatever else the worker ran, so another part of the upload may run
	// out of retries first: the reason names the upload's task that asynq archived.
	require.Contains(t, failed.Error, "task "+id+":part:")
	t.Logf("%d kills; archived → failed in %v; reason: %s", kills, time.Since(archivedAt).Round(time.Second), failed.Error)
	var parts int
	for u := range c.direct.ListIncompleteUploads(t.Context(), c.bucket, "poison", true) {
		require.NoError(t, u.Err)
		parts++
	}
	require.Equal(t, 1, parts, "the failed upload keeps its multipart upload (and parts) for resume")
}
