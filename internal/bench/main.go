// Command bench is `make bench`: it measures, in one run and on the same data, how fast
// partflow moves files into S3 compared with a direct minio-go upload to the same server.
//
// Under .state/bench/ (wiped first) it starts its own redis-server (AOF on, noeviction) and
// versitygw on free loopback ports, writes the data (by default one 256 MiB file and 64 files
// of 1 MiB) and starts the worker processes (by default 2 × --concurrency 4). Then, after one
// warm-up pass of every method, it uploads the data with
//
//   - direct, minio-go defaults: PutObject with default options (streaming SigV4 over HTTP,
//     minio-go's own part size and 4 threads);
//   - direct, tuned: PutObject with the part size partflow uses, as many threads as all
//     workers together run tasks, and DisableContentSha256 (UNSIGNED-PAYLOAD, as partflow's
//     workers send parts);
//   - direct, tuned, Content-MD5: the same with SendContentMd5, so every part carries the
//     Content-MD5 header partflow's workers send, and ConcurrentStreamParts, without which
//     minio-go uploads Content-MD5 parts one at a time;
//   - partflow: client.Put for every file, then client.WaitUpload until each completed.
//
// Each method runs --rounds times (default 3) per workload, in turn, and the median counts.
// Small files go up with as many uploads in flight as the workers have task slots in total,
// for the direct methods too. Every object is deleted again after it was measured.
//
// It prints MB/s (10^6 bytes per second) per method and workload, objects/s for the small
// files, and partflow's ratio to each direct method. It never passes or fails on a time: the
// numbers depend on the machine and on what else runs on it. The exit code is non-zero only if
// an upload failed or the stack did not start.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/redis/go-redis/v9"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/console"
	"github.com/partflow/partflow/internal/localstack"
	"github.com/partflow/partflow/internal/state"
)

const (
	stateDir = ".state/bench"
	bucket   = "partflow-bench"
)

// config is what the flags set.
type config struct {
	bigSize     int64
	smallCount  int
	smallSize   int64
	workers     int
	concurrency int
	partSize    int64
	rounds      int
	binDir      string
}

// slots is how many uploads all workers run at once.
func (c config) slots() int { return c.workers * c.concurrency }

func main() {
	os.Exit(run())
}

func run() int {
	var cfg config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	bigSize := fs.String("big-size", "256MiB", "size of the big file (0 to skip it)")
	fs.IntVar(&cfg.smallCount, "small-count", 64, "number of small files (0 to skip them)")
	smallSize := fs.String("small-size", "1MiB", "size of each small file")
	fs.IntVar(&cfg.workers, "workers", 2, "worker processes")
	fs.IntVar(&cfg.concurrency, "concurrency", 4, "--concurrency of each worker")
	partSize := fs.String("part-size", "16MiB", "part size for partflow and the tuned direct upload")
	fs.IntVar(&cfg.rounds, "rounds", 3, "measured rounds per method (the median is reported)")
	fs.StringVar(&cfg.binDir, "bin", "bin", "directory with the worker binary")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	for _, f := range []struct {
		name string
		in   string
		out  *int64
	}{{"--big-size", *bigSize, &cfg.bigSize}, {"--small-size", *smallSize, &cfg.smallSize}, {"--part-size", *partSize, &cfg.partSize}} {
		n, err := humanize.ParseBytes(f.in)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: bad %s %q: %v\n", f.name, f.in, err)
			return 2
		}
		*f.out = int64(n)
	}
	if cfg.workers < 1 || cfg.concurrency < 1 || cfg.rounds < 1 || cfg.smallCount < 0 {
		fmt.Fprintln(os.Stderr, "bench: --workers, --concurrency and --rounds must be at least 1, --small-count not negative")
		return 2
	}
	if _, err := os.Stat(filepath.Join(cfg.binDir, "worker")); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v (run `make build` first, or `make bench`)\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st := &stack{cfg: cfg}
	defer st.stop()
	if err := bench(ctx, st); err != nil {
		if ctx.Err() != nil {
			fmt.Println("\ninterrupted")
			return 130
		}
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	return 0
}

// workload is a set of files uploaded together.
type workload struct {
	name  string
	files []file
}

type file struct {
	name string // relative to the volume root
	size int64
}

func (w workload) bytes() (n int64) {
	for _, f := range w.files {
		n += f.size
	}
	return n
}

// method uploads a workload under a key prefix.
type method struct {
	name   string
	direct bool
	upload func(ctx context.Context, w workload, prefix string) error
}

// measurement is one method's median time on one workload.
type measurement struct {
	workload workload
	method   method
	took     time.Duration
}

func bench(ctx context.Context, st *stack) error {
	cfg := st.cfg
	console.Step("preparing %s/", stateDir)
	if err := os.RemoveAll(stateDir); err != nil {
		return err
	}
	if err := st.start(ctx); err != nil {
		return err
	}
	console.Step("redis-server %s (AOF on), versitygw %s", st.redis.Addr(), st.s3.Endpoint)

	var workloads []workload
	if cfg.bigSize > 0 {
		workloads = append(workloads, workload{name: humanize.IBytes(uint64(cfg.bigSize)) + " × 1",
			files: []file{{name: "big.bin", size: cfg.bigSize}}})
	}
	if cfg.smallCount > 0 {
		w := workload{name: humanize.IBytes(uint64(cfg.smallSize)) + " × " + strconv.Itoa(cfg.smallCount)}
		for i := range cfg.smallCount {
			w.files = append(w.files, file{name: fmt.Sprintf("small/%04d.bin", i), size: cfg.smallSize})
		}
		workloads = append(workloads, w)
	}
	for _, w := range workloads {
		console.Step("writing %s of random data (%s)", humanize.IBytes(uint64(w.bytes())), w.name)
		for _, f := range w.files {
			if err := writeRandom(filepath.Join(st.volume, f.name), f.size); err != nil {
				return err
			}
		}
	}
	if err := st.startWorkers(ctx); err != nil {
		return err
	}
	console.Step("workers: %d × bin/worker --concurrency %d, logs %s/worker-*.log", cfg.workers, cfg.concurrency, stateDir)

	methods := []method{
		{name: "direct, minio-go defaults", direct: true, upload: st.directUpload(minio.PutObjectOptions{})},
		{name: fmt.Sprintf("direct, %s parts, %d threads, unsigned", humanize.IBytes(uint64(cfg.partSize)), cfg.slots()),
			direct: true, upload: st.directUpload(minio.PutObjectOptions{PartSize: uint64(cfg.partSize),
				NumThreads: uint(cfg.slots()), DisableContentSha256: true})},
		{name: fmt.Sprintf("direct, %s parts, %d threads, unsigned, Content-MD5", humanize.IBytes(uint64(cfg.partSize)), cfg.slots()),
			direct: true, upload: st.directUpload(minio.PutObjectOptions{PartSize: uint64(cfg.partSize),
				NumThreads: uint(cfg.slots()), DisableContentSha256: true, SendContentMd5: true,
				// Without it minio-go sends Content-MD5 parts one at a time.
				ConcurrentStreamParts: true})},
		{name: fmt.Sprintf("partflow, %d workers × %d", cfg.workers, cfg.concurrency), upload: st.partflowUpload},
	}

	console.Step("warming up: every method uploads every workload once (not measured)")
	for _, w := range workloads {
		for _, m := range methods {
			if _, err := st.measure(ctx, m, w, "warmup/"); err != nil {
				return err
			}
		}
	}

	var results []measurement
	for _, w := range workloads {
		times := make([][]time.Duration, len(methods))
		for r := range cfg.rounds {
			for i, m := range methods {
				console.Step("round %d/%d: %s: %s", r+1, cfg.rounds, w.name, m.name)
				took, err := st.measure(ctx, m, w, fmt.Sprintf("round-%d/", r))
				if err != nil {
					return err
				}
				times[i] = append(times[i], took)
			}
		}
		for i, m := range methods {
			results = append(results, measurement{workload: w, method: m, took: median(times[i])})
		}
	}
	report(results, cfg)
	return nil
}

// measure uploads w with m, times it and deletes the objects again.
func (st *stack) measure(ctx context.Context, m method, w workload, prefix string) (time.Duration, error) {
	prefix = strings.NewReplacer(",", "", " ", "-", "×", "x").Replace(m.name) + "/" + prefix
	start := time.Now()
	err := m.upload(ctx, w, prefix)
	took := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", m.name, err)
	}
	for _, f := range w.files {
		if err := st.minio.RemoveObject(ctx, bucket, prefix+f.name, minio.RemoveObjectOptions{}); err != nil {
			return 0, fmt.Errorf("remove %s: %w", prefix+f.name, err)
		}
	}
	return took, nil
}

// directUpload returns a method that puts the files straight into versitygw with minio-go,
// as many at once as the workers have task slots.
func (st *stack) directUpload(opts minio.PutObjectOptions) func(context.Context, workload, string) error {
	return func(ctx context.Context, w workload, prefix string) error {
		return forEach(ctx, w.files, st.cfg.slots(), func(ctx context.Context, f file) error {
			fh, err := os.Open(filepath.Join(st.volume, f.name))
			if err != nil {
				return err
			}
			defer fh.Close()
			_, err = st.minio.PutObject(ctx, bucket, prefix+f.name, fh, f.size, opts)
			return err
		})
	}
}

// partflowUpload enqueues every file with the client package and waits until each completed.
func (st *stack) partflowUpload(ctx context.Context, w workload, prefix string) error {
	ids := make([]state.UploadID, len(w.files))
	for i, f := range w.files {
		id, err := st.pf.Put(ctx, client.PutRequest{Source: f.name, Bucket: bucket, Key: prefix + f.name,
			PartSize: st.cfg.partSize})
		if err != nil {
			return err
		}
		ids[i] = id
	}
	for _, id := range ids {
		u, err := st.pf.WaitUpload(ctx, id, nil)
		if err != nil {
			return err
		}
		if u.State != state.Completed {
			return fmt.Errorf("upload %s of %s: %s: %s", id, u.Key, u.State, u.Error)
		}
	}
	return nil
}

// forEach runs fn for every file with at most n at once and returns the first error.
func forEach(ctx context.Context, files []file, n int, fn func(context.Context, file) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, f := range files {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(ctx, f); err != nil {
				cancel(fmt.Errorf("%s: %w", f.name, err))
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// report prints the table and partflow's ratios.
func report(results []measurement, cfg config) {
	fmt.Println()
	rows := [][]string{{"workload", "method", "time", "MB/s", "objects/s", "partflow ÷ this"}}
	for _, m := range results {
		var pf time.Duration
		for _, o := range results {
			if o.workload.name == m.workload.name && !o.method.direct {
				pf = o.took
			}
		}
		secs := max(m.took.Seconds(), 1e-9)
		objects := ""
		if len(m.workload.files) > 1 {
			objects = fmt.Sprintf("%.1f", float64(len(m.workload.files))/secs)
		}
		ratio := ""
		if m.method.direct {
			// Same bytes, so the throughput ratio is the inverse ratio of the times.
			ratio = fmt.Sprintf("%.2f", m.took.Seconds()/max(pf.Seconds(), 1e-9))
		}
		rows = append(rows, []string{m.workload.name, m.method.name, m.took.Round(time.Millisecond).String(),
			fmt.Sprintf("%.1f", float64(m.workload.bytes())/1e6/secs), objects, ratio})
	}
	console.Table(os.Stdout, rows, "llrrrr")
	fmt.Printf("\nMB/s is 10^6 bytes per second; \"partflow ÷ this\" is partflow's throughput over that direct method's\n"+
		"(1.00 = as fast). Median of %d round(s) after one warm-up; %d CPUs; redis-server, versitygw, %d workers and\n"+
		"this program share them. Ratios, not absolute numbers, are what carries over to other machines.\n",
		cfg.rounds, runtime.NumCPU(), cfg.workers)
}

// writeRandom writes size random bytes to path.
func writeRandom(path string, size int64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(rand.Uint32()) // math/rand/v2 is seeded randomly
	}
	_, err = io.CopyN(f, rand.NewChaCha8(seed), size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// stack is everything the benchmark started.
type stack struct {
	cfg    config
	volume string
	redis  *localstack.Redis
	s3     *localstack.S3
	rdb    *redis.Client
	minio  *minio.Client
	pf     *client.Client

	workers []*localstack.Process
}

func (st *stack) start(ctx context.Context) error {
	var err error
	st.volume = filepath.Join(stateDir, "volume")
	if err := os.MkdirAll(st.volume, 0o755); err != nil {
		return err
	}
	st.redis, err = localstack.StartRedis(ctx, localstack.RedisConfig{Dir: filepath.Join(stateDir, "redis"), AppendOnly: true})
	if err != nil {
		return err
	}
	st.rdb = redis.NewClient(&redis.Options{Addr: st.redis.Addr(), Password: st.redis.Password()})
	if st.pf, err = client.New(st.rdb, client.Config{}); err != nil {
		return err
	}
	st.s3, err = localstack.StartS3(ctx, localstack.S3Config{Dir: filepath.Join(stateDir, "s3")})
	if err != nil {
		return err
	}
	// The direct uploads get as many keep-alive connections as the workers have together.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = st.cfg.slots() * 2
	st.minio, err = minio.New(strings.TrimPrefix(st.s3.Endpoint, "http://"), &minio.Options{
		Creds:        credentials.NewStaticV4(st.s3.AccessKey, st.s3.SecretKey, ""),
		Region:       "us-east-1",
		BucketLookup: minio.BucketLookupPath,
		Transport:    tr,
	})
	if err != nil {
		return err
	}
	return st.minio.MakeBucket(ctx, bucket, minio.MakeBucketOptions{})
}

// startWorkers starts the worker processes and waits until each has registered with asynq.
func (st *stack) startWorkers(ctx context.Context) (err error) {
	st.workers, err = localstack.StartWorkers(ctx, localstack.WorkersConfig{
		Bin: filepath.Join(st.cfg.binDir, "worker"), Count: st.cfg.workers,
		Args:     []string{"--concurrency", strconv.Itoa(st.cfg.concurrency), "--shutdown-timeout", "10s"},
		RedisURL: st.redis.URL(), S3: st.s3, VolumeRoot: st.volume, LogDir: stateDir,
	})
	return err
}

// stop stops everything the benchmark started and removes its data (logs stay).
func (st *stack) stop() {
	for i, err := range localstack.StopAll(15*time.Second, st.workers...) {
		if err != nil {
			w := st.workers[i]
			fmt.Fprintf(os.Stderr, "bench: %s exited while the benchmark ran (%v); see %s\n", w.Name(), w.Wait(), w.LogPath())
		}
	}
	if st.pf != nil {
		_ = st.pf.Close()
	}
	if st.rdb != nil {
		_ = st.rdb.Close()
	}
	if st.redis != nil {
		if err := st.redis.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		}
	}
	if st.s3 != nil {
		if err := st.s3.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		}
		_ = os.RemoveAll(filepath.Join(st.s3.Dir, "data"))
	}
	_ = os.RemoveAll(st.volume)
	if st.redis != nil || st.s3 != nil {
		fmt.Printf("stopped everything the benchmark started; logs in %s/\n", stateDir)
	}
}
