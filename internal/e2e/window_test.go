package e2e

import (
	"cmp"
	"context"
	"crypto/md5"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
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
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/tasks"
)

var (
	scaleLines  = flag.Int("scale.lines", 5000, "TestWindowedMigrationSurvivesFeederKills: manifest lines (tiny files); the issue's run is 200000")
	scaleWindow = flag.Int("scale.window", 500, "TestWindowedMigrationSurvivesFeederKills: the migration's --window; the issue's run is 2000")
)

// redisPeak samples a Redis until stopped: the highest used_memory, live uploads of a
// migration and pending start tasks it saw.
type redisPeak struct {
	mu                  sync.Mutex
	memory, live, queue int64
	samples             int
	// at is the breakdown (taken every 20 samples) with the highest used_memory.
	at memoryBreakdown
}

func sampleRedis(t *testing.T, rdb *redis.Client, mid string) (stop func() redisPeak) {
	t.Helper()
	var p redisPeak
	done := make(chan struct{})
	finished := make(chan struct{})
	store, err := state.New(rdb, state.Config{})
	require.NoError(t, err)
	go func() {
		defer close(finished)
		ctx := context.Background()
		for {
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			m, err := store.RedisMemory(ctx)
			live, err2 := rdb.ZCard(ctx, "partflow:{"+mid+"}:live").Result()
			queue, err3 := rdb.LLen(ctx, "asynq:{"+tasks.QueueHigh+"}:pending").Result()
			if err != nil || err2 != nil || err3 != nil {
				continue
			}
			p.mu.Lock()
			p.memory, p.live, p.queue = max(p.memory, m.Used), max(p.live, live), max(p.queue, queue)
			p.samples++
			breakdown := p.samples%20 == 0
			p.mu.Unlock()
			if breakdown {
				if b, err := breakdownRedis(ctx, rdb); err == nil {
					p.mu.Lock()
					if b.info["used_memory"] > p.at.info["used_memory"] {
						p.at = b
					}
					p.mu.Unlock()
				}
			}
		}
	}()
	return func() redisPeak {
		close(done)
		<-finished
		p.mu.Lock()
		defer p.mu.Unlock()
		return redisPeak{memory: p.memory, live: p.live, queue: p.queue, samples: p.samples, at: p.at}
	}
}

// keyClass names the family a Redis key belongs to, with its IDs replaced by *.
func keyClass(k string) string {
	switch {
	case strings.HasPrefix(k, "partflow:{dest:"):
		return "partflow:{dest:*}"
	case strings.HasPrefix(k, "partflow:{liveness}:"):
		name, _, more := strings.Cut(strings.TrimPrefix(k, "partflow:{liveness}:"), ":")
		if more {
			name += ":*"
		}
		return "partflow:{liveness}:" + name
	case strings.HasPrefix(k, "partflow:{"):
		_, rest, _ := strings.Cut(k, "}:")
		if strings.HasPrefix(rest, "upload:") {
			if strings.HasSuffix(rest, ":parts") {
				return "partflow:{*}:upload:*:parts"
			}
			return "partflow:{*}:upload:*"
		}
		return "partflow:{*}:" + rest
	case strings.HasPrefix(k, "asynq:{"):
		q, rest, _ := strings.Cut(k, "}:")
		name, _, more := strings.Cut(rest, ":")
		if more {
			name += ":*"
		}
		return q + "}:" + name
	case strings.HasPrefix(k, "asynq:servers:"), strings.HasPrefix(k, "asynq:workers:"):
		return k[:strings.Index(k, ":{")+1] + "*"
	}
	if i := strings.LastIndexByte(k, ':'); i > 0 {
		return k[:i+1] + "*"
	}
	return k
}

// memoryBreakdown is what Redis holds at one moment: INFO memory's parts and the keys'
// MEMORY USAGE (SAMPLES 0) summed by keyClass.
type memoryBreakdown struct {
	info  map[string]int64
	bytes map[string]int64
	count map[string]int64
}

func (b memoryBreakdown) String() string {
	var s strings.Builder
	for _, f := range []string{"used_memory", "used_memory_dataset", "used_memory_overhead", "used_memory_startup",
		"mem_clients_normal", "mem_aof_buffer", "used_memory_scripts", "mem_replication_backlog"} {
		fmt.Fprintf(&s, "%s=%d ", f, b.info[f])
	}
	classes := make([]string, 0, len(b.bytes))
	for c := range b.bytes {
		classes = append(classes, c)
	}
	slices.SortFunc(classes, func(x, y string) int { return cmp.Compare(b.bytes[y], b.bytes[x]) })
	for _, c := range classes {
		fmt.Fprintf(&s, "\n  %-40s %6d keys %10d B", c, b.count[c], b.bytes[c])
	}
	return s.String()
}

func breakdownRedis(ctx context.Context, rdb *redis.Client) (memoryBreakdown, error) {
	b := memoryBreakdown{info: map[string]int64{}, bytes: map[string]int64{}, count: map[string]int64{}}
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return b, err
	}
	for line := range strings.Lines(info) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if n, err := strconv.ParseInt(v, 10, 64); ok && err == nil {
			b.info[k] = n
		}
	}
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return b, err
	}
	for chunk := range slices.Chunk(keys, 500) {
		cmds, _ := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range chunk {
				p.MemoryUsage(ctx, k, 0)
			}
			return nil
		})
		for i, c := range cmds {
			n, err := c.(*redis.IntCmd).Result()
			if err != nil {
				continue // expired or deleted meanwhile
			}
			b.bytes[keyClass(chunk[i])] += n
			b.count[keyClass(chunk[i])]++
		}
	}
	return b, nil
}

// TestWindowedMigrationSurvivesFeederKills: a manifest of tiny files migrated with a window
// is fed by the fleet; every worker (so the one running the feeder) is SIGKILLed twice while
// a feeder run is active; every object completes once with the right bytes, the migration
// never holds more than the window of unfinished uploads, and Redis's used_memory stays
// under a bound that grows only with the compact done records. The default size runs in
// make test; the size is -scale.lines 200000 -scale.window 2000 (see README).
func TestWindowedMigrationSurvivesFeederKills(t *testing.T) {
	t.Parallel()
	n, window := *scaleLines, *scaleWindow
	c := newChaosStack(t, 2, "--concurrency", "16", "--feed-interval", "200ms")
	rdb := c.rdb(t)

	begin := time.Now()
	manifest := filepath.Join(t.TempDir(), "manifest.jsonl")
	mf, err := os.Create(manifest)
	require.NoError(t, err)
	sums := make(map[string]string, n)
	require.NoError(t, os.MkdirAll(filepath.Join(c.volume, "tiny"), 0o755))
	for i := range n {
		body := fmt.Appendf(nil, "tiny file %d of %d\n", i, n)
		name := fmt.Sprintf("tiny/f-%06d", i)
		require.NoError(t, os.WriteFile(filepath.Join(c.volume, name), body, 0o644))
		sum := md5.Sum(body)
		sums["w/"+name] = hex.EncodeToString(sum[:])
		fmt.Fprintf(mf, `{"source":%q,"key":%q}`+"\n", name, name)
	}
	require.NoError(t, mf.Close())
	t.Logf("wrote %d files and the manifest in %s", n, time.Since(begin).Round(time.Millisecond))

	var base state.Memory
	base, err = mustStore(t, rdb).RedisMemory(t.Context())
	require.NoError(t, err)

	begin = time.Now()
	r := c.run(t, nil, "migrate", "--manifest", manifest, "--bucket", c.bucket, "--prefix", "w/",
		"--window", fmt.Sprint(window), "--json")
	require.Equal(t, 0, r.code, "migrate: %s %s", r.stdout, r.stderr)
	out := decodeMigrate(t, r)
	mid := out.MigrationID
	require.NotEmpty(t, mid)
	t.Logf("migrate wrote the feed file and returned in %s", time.Since(begin).Round(time.Millisecond))
	// Generous: about 20 objects/s at worst on a loaded machine.
	patience := 3*time.Minute + time.Duration(n/20)*time.Second
	require.DirExists(t, filepath.Join(c.volume, ".partflow", "manifests"), "the feed file dir")
	stopSampling := sampleRedis(t, rdb, mid)

	// Kill every worker twice while a feeder run is active, once the migration is under way.
	inspector := asynq.NewInspectorFromRedisClient(rdb)
	for kill := range 2 {
		target := int64(n) * int64(kill+1) / 4
		require.Eventually(t, func() bool {
			m, err := mustStore(t, rdb).GetMigration(t.Context(), mid)
			if err != nil || m.Completed < target {
				return false
			}
			active, err := inspector.ListActiveTasks(tasks.QueueFeed)
			if err != nil {
				return false
			}
			for _, a := range active {
				if a.Type == tasks.TypeFeed {
					return true
				}
			}
			return false
		}, patience, 10*time.Millisecond, "waiting for an active feeder run after %d completions", target)
		for _, name := range c.names() {
			c.stopWorker(name, syscall.SIGKILL)
		}
		c.startWorker(t)
		c.startWorker(t)
		t.Logf("kill %d: every worker SIGKILLed during a feeder run after %d completions (%s)", kill+1, target,
			time.Since(begin).Round(time.Second))
	}

	var m state.Migration
	require.Eventually(t, func() bool {
		m, err = mustStore(t, rdb).GetMigration(t.Context(), mid)
		return err == nil && m.Finished()
	}, patience, 200*time.Millisecond, "waiting for the migration to finish")
	elapsed := time.Since(begin)
	peak := stopSampling()

	require.Equal(t, int64(n), m.Total, "each item created once")
	require.Equal(t, int64(n), m.Completed)
	require.Zero(t, m.Failed)
	recs, total, err := mustStore(t, rdb).DoneRecords(t.Context(), mid, 0, int64(n)+10)
	require.NoError(t, err)
	require.Equal(t, int64(n), total, "one done record per item: none completed twice")
	seen := make(map[string]bool, n)
	for _, rec := range recs {
		require.False(t, seen[rec.Key], "%s completed twice", rec.Key)
		seen[rec.Key] = true
	}

	// Every object, with its bytes (an unencrypted single PUT's ETag is its MD5).
	objects := 0
	for obj := range c.direct.ListObjects(t.Context(), c.bucket, minio.ListObjectsOptions{Prefix: "w/", Recursive: true}) {
		require.NoError(t, obj.Err)
		require.Equal(t, sums[obj.Key], strings.Trim(obj.ETag, `"`), "%s", obj.Key)
		objects++
	}
	require.Equal(t, n, objects)

	require.LessOrEqual(t, peak.live, int64(window), "unfinished uploads never above the window")
	require.LessOrEqual(t, peak.queue, int64(window)+16, "pending start tasks never above the window (+ feeder and finalizers)")
	// The bound: what Redis held before, plus a fixed part, plus the window's in-flight
	// uploads, plus one done entry per item; nothing else may grow with the manifest.
	//   fixedBytes: asynq's servers, workers, leases and stats, the liveness keys, the main
	//     dict's tables grown for the window's keys, client buffers (4 MiB; a 20,000-line run
	//     held 0.3 MiB of such keys by MEMORY USAGE).
	//   perInFlight: an upload's record and index entries (902 B by used_memory in
	//     TestFedMigrationMemoryPerUpload) plus its asynq start task (~430 B by MEMORY USAGE
	//     in this test's breakdown): 1,500 B.
	//   perDone: a done entry, 70-90 B by MEMORY USAGE for keys like these (logged below):
	//     100 B, the target.
	// Before the destination keys of windowed uploads were dropped on their write, a
	// 200,000-line run peaked at +73 MB: one partflow:{dest:…} hash of ~232 B per completed
	// object, kept for the retention.
	const fixedBytes, perInFlight, perDone = 4 << 20, 1500, 100
	bound := base.Used + fixedBytes + perInFlight*int64(window) + perDone*int64(n)
	doneBytes, err := rdb.MemoryUsage(t.Context(), "partflow:{"+mid+"}:done", 0).Result()
	require.NoError(t, err)
	t.Logf("done list: %d B by MEMORY USAGE, %.1f B per entry", doneBytes, float64(doneBytes)/float64(n))
	dests, err := rdb.Keys(t.Context(), "partflow:{dest:*").Result()
	require.NoError(t, err)
	require.Less(t, len(dests), window, "destination keys are dropped once their upload wrote: %d left", len(dests))

	// The report answers for every compacted upload, and status counts them.
	rep := c.run(t, nil, "report", mid)
	require.Equal(t, 0, rep.code, "report: %s", rep.stderr)
	rows := strings.Count(rep.stdout, "\n")
	require.Equal(t, n, rows, "one report row per item")
	require.Equal(t, n, strings.Count(rep.stdout, `"state":"completed"`), "every row completed")
	t.Logf("Redis at the largest sampled breakdown: %s", peak.at)
	require.Less(t, peak.memory, bound, "Redis used_memory peak")
	ratio := float64(n) / elapsed.Seconds()
	t.Logf("SCALE lines=%d window=%d wall=%s (%.0f objects/s) redis used_memory base=%d peak=%d (+%d B, bound %d) peak live=%d peak pending=%d samples=%d PUTs at the proxy=%d",
		n, window, elapsed.Round(time.Second), ratio, base.Used, peak.memory, peak.memory-base.Used, bound, peak.live, peak.queue,
		peak.samples, c.s3proxy.Count("PutObject"))
}

func mustStore(t *testing.T, rdb *redis.Client) *state.Store {
	t.Helper()
	s, err := state.New(rdb, state.Config{})
	require.NoError(t, err)
	return s
}
