// Command migrate benchmarks `enqueuer migrate` (make bench runs it after the throughput
// benchmark). It prints two measurements, never passing or failing on a number:
//
//   - enqueue: the real enqueuer binary migrates a manifest of --lines lines (100,000 by
//     default; also a tenth of that, to show that memory does not grow with the manifest)
//     into a Redis of its own, with no worker running. It prints the uploads enqueued per
//     second (the enqueue pass alone, as the enqueuer reports it, and end to end including the
//     validation pass) and the enqueuer's peak RSS (getrusage of the child: ru_maxrss).
//   - windowed migration: the Redis steps of a windowed migration of --feed.lines lines (and a
//     quarter of that) with --feed.window, driven directly (feed_batch.lua, upload:start tasks,
//     CompleteSingle's compaction, the tasks' deletion; no S3, no worker); it prints Redis
//     bytes per in-flight and per completed upload and the used_memory peak (see feed.go).
//   - redis memory: --small files of --small-size bytes are migrated to versitygw by real
//     worker processes; it prints Redis's used_memory before and after, divided by the
//     number of completed uploads. Completed records are kept for the retention period
//     (7 days by default) and then expire; this is what they cost until then.
//
// Everything runs under --dir (wiped first) on free loopback ports; the binaries come from
// --bin (make build puts them in bin/).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/redis/go-redis/v9"

	"github.com/partflow/partflow/internal/localstack"
)

type config struct {
	dir          string
	bin          string
	lines        int
	concurrency  string
	small        int
	smallSize    int64
	workers      int
	workerConc   int
	skipEnqueue  bool
	skipRedisMem bool
	feedLines    int
	feedWindow   int
	skipFeed     bool
}

func main() {
	var cfg config
	fs := flag.NewFlagSet("bench-migrate", flag.ContinueOnError)
	fs.StringVar(&cfg.dir, "dir", ".state/bench-migrate", "working directory (wiped first)")
	fs.StringVar(&cfg.bin, "bin", "bin", "directory with the enqueuer and worker binaries")
	fs.IntVar(&cfg.lines, "lines", 100_000, "manifest lines to enqueue")
	fs.StringVar(&cfg.concurrency, "concurrency", "16", "comma list of enqueuer --concurrency values to measure")
	fs.IntVar(&cfg.small, "small", 2000, "small uploads for the Redis memory measurement")
	smallSize := fs.String("small-size", "1KiB", "size of each small upload")
	fs.IntVar(&cfg.workers, "workers", 2, "worker processes for the Redis memory measurement")
	fs.IntVar(&cfg.workerConc, "worker-concurrency", 8, "--concurrency of each worker")
	fs.BoolVar(&cfg.skipEnqueue, "skip-enqueue", false, "skip the enqueue measurement")
	fs.BoolVar(&cfg.skipRedisMem, "skip-redis-memory", false, "skip the Redis memory measurement")
	fs.IntVar(&cfg.feedLines, "feed.lines", 100_000, "manifest lines of the windowed-migration measurement (also a quarter of that); the issue's size is 1000000")
	fs.IntVar(&cfg.feedWindow, "feed.window", 20_000, "--window of the windowed-migration measurement")
	fs.BoolVar(&cfg.skipFeed, "skip-feed", false, "skip the windowed-migration measurement")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		os.Exit(2)
	}
	n, err := humanize.ParseBytes(*smallSize)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-migrate: bad --small-size: %v\n", err)
		os.Exit(2)
	}
	cfg.smallSize = int64(n)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "bench-migrate: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	for _, b := range []string{"enqueuer", "worker"} {
		if _, err := os.Stat(filepath.Join(cfg.bin, b)); err != nil {
			return fmt.Errorf("%s: %w (run `make build` first)", filepath.Join(cfg.bin, b), err)
		}
	}
	if err := os.RemoveAll(cfg.dir); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.dir, 0o755); err != nil {
		return err
	}
	redisSrv, err := localstack.StartRedis(ctx, localstack.RedisConfig{Dir: filepath.Join(cfg.dir, "redis"), AppendOnly: true})
	if err != nil {
		return err
	}
	defer redisSrv.Stop()
	rdb := redis.NewClient(&redis.Options{Addr: redisSrv.Addr()})
	defer rdb.Close()
	fmt.Printf("partflow migrate benchmark: redis-server %s, %d CPUs; numbers depend on the machine and its load\n\n",
		redisSrv.Addr(), runtime.NumCPU())

	if !cfg.skipEnqueue {
		if err := benchEnqueue(ctx, cfg, redisSrv, rdb); err != nil {
			return err
		}
	}
	if !cfg.skipFeed {
		if err := benchFeed(ctx, cfg, rdb); err != nil {
			return err
		}
	}
	if !cfg.skipRedisMem {
		if err := benchRedisMemory(ctx, cfg, redisSrv, rdb); err != nil {
			return err
		}
	}
	return nil
}

// benchEnqueue measures the enqueuer on manifests of cfg.lines and cfg.lines/10 lines.
func benchEnqueue(ctx context.Context, cfg config, redisSrv *localstack.Redis, rdb *redis.Client) error {
	fmt.Println("== enqueue: `enqueuer migrate --manifest FILE` into Redis, no worker running")
	sizes := []int{cfg.lines / 10, cfg.lines}
	for _, lines := range sizes {
		if lines < 1 {
			continue
		}
		path := filepath.Join(cfg.dir, fmt.Sprintf("manifest-%d.jsonl", lines))
		if err := writeManifest(path, lines); err != nil {
			return err
		}
		for _, c := range strings.Split(cfg.concurrency, ",") {
			c = strings.TrimSpace(c)
			if err := rdb.FlushAll(ctx).Err(); err != nil {
				return err
			}
			base, err := memoryField(ctx, rdb, "used_memory")
			if err != nil {
				return err
			}
			peakCh := samplePeak(ctx, rdb)
			start := time.Now()
			cmd := exec.CommandContext(ctx, filepath.Join(cfg.bin, "enqueuer"), "migrate", "--manifest", path,
				"--bucket", "pf-bench", "--concurrency", c, "--json")
			cmd.Env = localstack.IsolatedEnv("PARTFLOW_REDIS_URL=" + redisSrv.URL())
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			took := time.Since(start)
			peak := <-peakCh
			if err != nil {
				return fmt.Errorf("enqueuer: %w: %s", err, stderr.String())
			}
			var res struct {
				Enqueue struct {
					Items     int64   `json:"items"`
					Seconds   float64 `json:"seconds"`
					PerSecond float64 `json:"items_per_second"`
				} `json:"enqueue"`
			}
			if err := json.Unmarshal(out, &res); err != nil {
				return fmt.Errorf("enqueuer output: %w", err)
			}
			if res.Enqueue.Items != int64(lines) {
				return fmt.Errorf("enqueuer enqueued %d of %d lines", res.Enqueue.Items, lines)
			}
			rss := int64(0)
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				rss = ru.Maxrss << 10 // KiB on Linux
			}
			fmt.Printf("%9d lines, --concurrency %-3s  enqueue pass %7.0f uploads/s (%.1fs)   end to end %7.0f uploads/s (%.1fs)   peak RSS %s\n",
				lines, c, res.Enqueue.PerSecond, res.Enqueue.Seconds, float64(lines)/took.Seconds(), took.Seconds(),
				humanize.IBytes(uint64(rss)))
			used, err := memoryField(ctx, rdb, "used_memory")
			if err != nil {
				return err
			}
			fmt.Printf("%9s Redis: %.0f bytes per enqueued (in-flight) upload; used_memory peak %s while enqueuing (sampled every 50ms)\n", "",
				float64(used-base)/float64(lines), humanize.IBytes(uint64(peak)))
		}
	}
	fmt.Println()
	return nil
}

func writeManifest(path string, lines int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for i := range lines {
		fmt.Fprintf(w, `{"source":"data/%02d/file-%08d.bin","key":"bench/%08d.bin","metadata":{"batch":"%d"}}`+"\n",
			i%100, i, i, i/1000)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// benchRedisMemory measures Redis memory per completed small upload.
func benchRedisMemory(ctx context.Context, cfg config, redisSrv *localstack.Redis, rdb *redis.Client) error {
	fmt.Printf("== redis memory: %d uploads of %s through %d × worker --concurrency %d\n", cfg.small,
		humanize.IBytes(uint64(cfg.smallSize)), cfg.workers, cfg.workerConc)
	s3, err := localstack.StartS3(ctx, localstack.S3Config{Dir: filepath.Join(cfg.dir, "s3")})
	if err != nil {
		return err
	}
	defer s3.Stop()
	mc, err := minio.New(strings.TrimPrefix(s3.Endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(s3.AccessKey, s3.SecretKey, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		return err
	}
	if err := mc.MakeBucket(ctx, "pf-bench", minio.MakeBucketOptions{}); err != nil {
		return err
	}
	volume := filepath.Join(cfg.dir, "volume")
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, cfg.smallSize)
	for _, set := range []string{"warmup", "small"} {
		n := cfg.small
		if set == "warmup" {
			n = 20
		}
		for i := range n {
			p := filepath.Join(volume, set, fmt.Sprintf("%03d", i%100), fmt.Sprintf("f%06d", i))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			for j := range buf {
				buf[j] = byte(rng.Uint32())
			}
			if err := os.WriteFile(p, buf, 0o644); err != nil {
				return err
			}
		}
	}
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		return err
	}
	workers, err := localstack.StartWorkers(ctx, localstack.WorkersConfig{Bin: filepath.Join(cfg.bin, "worker"),
		Count: cfg.workers, Args: []string{"--concurrency", strconv.Itoa(cfg.workerConc)}, RedisURL: redisSrv.URL(),
		S3: s3, VolumeRoot: volume, LogDir: cfg.dir})
	if err != nil {
		return err
	}
	defer localstack.StopAll(15*time.Second, workers...)

	migrate := func(dir string) error {
		cmd := exec.CommandContext(ctx, filepath.Join(cfg.bin, "enqueuer"), "migrate", "--source", dir,
			"--bucket", "pf-bench", "--prefix", dir+"/", "--wait", "--json")
		cmd.Env = localstack.IsolatedEnv("PARTFLOW_REDIS_URL="+redisSrv.URL(), "PARTFLOW_VOLUME_ROOT="+volume)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if _, err := cmd.Output(); err != nil {
			return fmt.Errorf("enqueuer migrate %s: %w: %s", dir, err, stderr.String())
		}
		return nil
	}
	// A warm-up migration loads the scripts, registers the queues and the workers' state, so
	// that the measured difference is the uploads'.
	if err := migrate("warmup"); err != nil {
		return err
	}
	before, err := usedMemory(ctx, rdb)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := migrate("small"); err != nil {
		return err
	}
	took := time.Since(start)
	after, err := usedMemory(ctx, rdb)
	if err != nil {
		return err
	}
	per := float64(after-before) / float64(cfg.small)
	fmt.Printf("used_memory %s before, %s after %d completed uploads (%.1fs, %.0f uploads/s): %.0f bytes per completed upload\n",
		humanize.IBytes(uint64(before)), humanize.IBytes(uint64(after)), cfg.small, took.Seconds(),
		float64(cfg.small)/took.Seconds(), per)
	fmt.Printf("  ≈ %s per million completed small uploads, kept for the retention period\n",
		humanize.IBytes(uint64(per*1e6)))
	if err := breakdown(ctx, rdb); err != nil {
		return err
	}
	return nil
}

func usedMemory(ctx context.Context, rdb *redis.Client) (int64, error) {
	// Let the workers' heartbeats and the last events settle.
	time.Sleep(time.Second)
	return memoryField(ctx, rdb, "used_memory")
}

// samplePeak samples used_memory every 50ms until the next receive from the returned channel,
// which gets the highest value seen.
func samplePeak(ctx context.Context, rdb *redis.Client) chan int64 {
	ch := make(chan int64)
	go func() {
		var peak int64
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case ch <- peak:
				return
			case <-tick.C:
				if v, err := memoryField(ctx, rdb, "used_memory"); err == nil {
					peak = max(peak, v)
				}
			}
		}
	}()
	return ch
}

// memoryField reads one field of INFO memory.
func memoryField(ctx context.Context, rdb *redis.Client, field string) (int64, error) {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("INFO memory has no %s", field)
}

// breakdown prints MEMORY USAGE of one upload record and the migration's per-upload indexes.
func breakdown(ctx context.Context, rdb *redis.Client) error {
	keys, err := rdb.Keys(ctx, "partflow:{*}:upload:*").Result()
	if err != nil || len(keys) == 0 {
		return err
	}
	one, err := rdb.MemoryUsage(ctx, keys[0]).Result()
	if err != nil {
		return err
	}
	fmt.Printf("  one upload hash (%s): %d bytes (MEMORY USAGE)\n", keys[0][strings.LastIndex(keys[0], ":")+1:], one)
	idx, err := rdb.Keys(ctx, "partflow:{*}:uploads").Result()
	if err != nil {
		return err
	}
	for _, k := range idx {
		n, _ := rdb.ZCard(ctx, k).Result()
		if n < 100 {
			continue // the warm-up's
		}
		size, err := rdb.MemoryUsage(ctx, k).Result()
		if err != nil {
			return err
		}
		fmt.Printf("  the migration's uploads index: %d bytes for %d uploads (%.0f per upload)\n", size, n, float64(size)/float64(n))
	}
	return nil
}
