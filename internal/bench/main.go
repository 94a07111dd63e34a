// Command bench is `make bench`: it measures, in one run and on the same data, how fast
// partflow moves files into S3 compared with a direct minio-go upload to the same server.
//
// Under .state/bench/ (wiped first) it starts its own redis-server (AOF on, noeviction) and
// versitygw on free loopback ports, writes the data (by default one 512 MiB file and 2,000 files
// of 64 KiB) and starts the worker processes (by default one worker, --concurrency 8 for the big
// file and 16 for the small files: the same slots the direct methods and s5cmd get). Then, after
// one warm-up pass of every method, it uploads the data with
//
//   - direct, minio-go defaults: PutObject with default options (streaming SigV4 over HTTP,
//     minio-go's own part size and 4 threads);
//   - direct, tuned: PutObject with the part size partflow uses, as many threads as all
//     workers together run tasks, and DisableContentSha256 (UNSIGNED-PAYLOAD, as partflow's
//     workers send parts);
//   - direct, tuned, Content-MD5: the same with SendContentMd5, so every part carries the
//     Content-MD5 header partflow's workers send, and ConcurrentStreamParts, without which
//     minio-go uploads Content-MD5 parts one at a time;
//   - s5cmd (v2.3.0, built into .tools/bin by `make tools`; skipped when absent): `s5cmd cp`
//     with as many workers as partflow has slots (small files) or that many concurrent parts
//     of the same size (the big file);
//   - partflow: client.Put for every file, then client.WaitUpload until each completed.
//
// Each method runs --rounds times (default 3) per workload, interleaved (round 1 of every
// method, then round 2, ...), and the median counts.
//
// For partflow it also reads Redis's own accounting around every measured round: INFO
// commandstats (commands run inside Lua scripts included) and INFO cpu (the main thread's CPU
// time), and prints the medians per object and per part; and the workers' peak RSS (VmHWM).
// Small files go up with as many uploads in flight as the workers have task slots in total,
// for the direct methods too. Every object is deleted again after it was measured.
//
// It prints MB/s (10^6 bytes per second) per method and workload, objects/s for the small
// files, and partflow's ratio to each other method. It never passes or fails on a time: the
// numbers depend on the machine and on what else runs on it. The exit code is non-zero only if
// an upload failed or the stack did not start.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
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
	concurrency int // worker --concurrency for the big file
	smallConc   int // worker --concurrency for the small files
	partSize    int64
	rounds      int
	binDir      string
}

// slots is how many tasks all workers run at once with --concurrency conc.
func (c config) slots(conc int) int { return c.workers * conc }

func main() {
	os.Exit(run())
}

func run() int {
	var cfg config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	bigSize := fs.String("big-size", "512MiB", "size of the big file (0 to skip it)")
	fs.IntVar(&cfg.smallCount, "small-count", 2000, "number of small files (0 to skip them)")
	smallSize := fs.String("small-size", "64KiB", "size of each small file")
	fs.IntVar(&cfg.workers, "workers", 1, "worker processes")
	fs.IntVar(&cfg.concurrency, "concurrency", 8, "--concurrency of each worker for the big file")
	fs.IntVar(&cfg.smallConc, "small-concurrency", 16, "--concurrency of each worker for the small files")
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
	if cfg.workers < 1 || cfg.concurrency < 1 || cfg.smallConc < 1 || cfg.rounds < 1 || cfg.smallCount < 0 {
		fmt.Fprintln(os.Stderr, "bench: --workers, --concurrency, --small-concurrency and --rounds must be at least 1, --small-count not negative")
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

// workload is a set of files uploaded together, by workers running conc tasks each.
type workload struct {
	name  string
	files []file
	conc  int
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
	name     string
	partflow bool
	upload   func(ctx context.Context, w workload, prefix string) error
}

// measurement is one method's median time on one workload, and for partflow what Redis and
// the workers spent on it.
type measurement struct {
	workload workload
	method   method
	took     time.Duration
	redis    redisCost // partflow only: medians per round
	rssKiB   int64     // partflow only: the workers' peak RSS so far (largest of them)
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
			files: []file{{name: "big.bin", size: cfg.bigSize}}, conc: cfg.concurrency})
	}
	if cfg.smallCount > 0 {
		w := workload{name: humanize.IBytes(uint64(cfg.smallSize)) + " × " + strconv.Itoa(cfg.smallCount), conc: cfg.smallConc}
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

	var results []measurement
	for _, w := range workloads {
		if err := st.startWorkers(ctx, w.conc); err != nil {
			return err
		}
		console.Step("%s: %d × bin/worker --concurrency %d, logs %s/worker-*.log", w.name, cfg.workers, w.conc, stateDir)
		methods := st.methods(w)
		console.Step("warming up: every method uploads %s once (not measured)", w.name)
		for _, m := range methods {
			if _, err := st.measure(ctx, m, w, "warmup/"); err != nil {
				return err
			}
		}
		times := make([][]time.Duration, len(methods))
		costs := make([][]redisCost, len(methods))
		for r := range cfg.rounds {
			for i, m := range methods {
				console.Step("round %d/%d: %s: %s", r+1, cfg.rounds, w.name, m.name)
				before, err := readRedisCost(ctx, st.rdb)
				if err != nil {
					return err
				}
				took, err := st.measure(ctx, m, w, fmt.Sprintf("round-%d/", r))
				if err != nil {
					return err
				}
				after, err := readRedisCost(ctx, st.rdb)
				if err != nil {
					return err
				}
				times[i] = append(times[i], took)
				costs[i] = append(costs[i], after.sub(before))
			}
		}
		for i, m := range methods {
			res := measurement{workload: w, method: m, took: median(times[i])}
			if m.partflow {
				res.redis = medianCost(costs[i])
				res.rssKiB = st.workersPeakRSS()
			}
			results = append(results, res)
		}
	}
	report(results, cfg, st.cfg.partSize)
	return nil
}

// methods are the ways w is uploaded: direct minio-go variants and s5cmd with as many
// requests in flight as the workers have task slots, and partflow.
func (st *stack) methods(w workload) []method {
	cfg := st.cfg
	slots := cfg.slots(w.conc)
	ps := humanize.IBytes(uint64(cfg.partSize))
	ms := []method{
		{name: "direct, minio-go defaults", upload: st.directUpload(slots, minio.PutObjectOptions{})},
		{name: fmt.Sprintf("direct, %s parts, %d threads, unsigned", ps, slots),
			upload: st.directUpload(slots, minio.PutObjectOptions{PartSize: uint64(cfg.partSize),
				NumThreads: uint(slots), DisableContentSha256: true})},
		{name: fmt.Sprintf("direct, %s parts, %d threads, unsigned, Content-MD5", ps, slots),
			upload: st.directUpload(slots, minio.PutObjectOptions{PartSize: uint64(cfg.partSize),
				NumThreads: uint(slots), DisableContentSha256: true, SendContentMd5: true,
				// Without it minio-go sends Content-MD5 parts one at a time.
				ConcurrentStreamParts: true})},
	}
	if st.s5cmd != "" {
		ms = append(ms, method{name: fmt.Sprintf("s5cmd v2.3.0, %d workers", slots), upload: st.s5cmdUpload(slots)})
	}
	return append(ms, method{name: fmt.Sprintf("partflow, %d worker(s) × %d", cfg.workers, w.conc), partflow: true,
		upload: st.partflowUpload})
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
// slots at once.
func (st *stack) directUpload(slots int, opts minio.PutObjectOptions) func(context.Context, workload, string) error {
	return func(ctx context.Context, w workload, prefix string) error {
		return forEach(ctx, w.files, slots, func(ctx context.Context, f file) error {
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

// s5cmdUpload returns a method that runs s5cmd once for the whole workload: one `cp` line per
// file in a command file, slots lines at once (--numworkers), and for a multipart file slots
// parts of the benchmark's part size at once.
func (st *stack) s5cmdUpload(slots int) func(context.Context, workload, string) error {
	return func(ctx context.Context, w workload, prefix string) error {
		var cmds strings.Builder
		partMiB := max(st.cfg.partSize>>20, 5)
		for _, f := range w.files {
			fmt.Fprintf(&cmds, "cp --concurrency %d --part-size %d %s s3://%s/%s%s\n", slots, partMiB,
				filepath.Join(st.volume, f.name), bucket, prefix, f.name)
		}
		file := filepath.Join(stateDir, "s5cmd-commands.txt")
		if err := os.WriteFile(file, []byte(cmds.String()), 0o644); err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, st.s5cmd, "--endpoint-url", st.s3.Endpoint, "--numworkers", strconv.Itoa(slots),
			"--log", "error", "run", file)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+st.s3.AccessKey, "AWS_SECRET_ACCESS_KEY="+st.s3.SecretKey,
			"AWS_REGION=us-east-1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("s5cmd: %w: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	}
}

// partflowUpload enqueues every file with the client package and waits until each completed.
func (st *stack) partflowUpload(ctx context.Context, w workload, prefix string) error {
	ids := make([]client.UploadID, len(w.files))
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
		if u.State != client.StateCompleted {
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

// report prints the table, partflow's ratios and what partflow cost Redis and the workers.
func report(results []measurement, cfg config, partSize int64) {
	fmt.Println()
	rows := [][]string{{"workload", "method", "time", "MB/s", "objects/s", "partflow ÷ this"}}
	for _, m := range results {
		var pf time.Duration
		for _, o := range results {
			if o.workload.name == m.workload.name && o.method.partflow {
				pf = o.took
			}
		}
		secs := max(m.took.Seconds(), 1e-9)
		objects := ""
		if len(m.workload.files) > 1 {
			objects = fmt.Sprintf("%.1f", float64(len(m.workload.files))/secs)
		}
		ratio := ""
		if !m.method.partflow {
			// Same bytes, so the throughput ratio is the inverse ratio of the times.
			ratio = fmt.Sprintf("%.2f", m.took.Seconds()/max(pf.Seconds(), 1e-9))
		}
		rows = append(rows, []string{m.workload.name, m.method.name, m.took.Round(time.Millisecond).String(),
			fmt.Sprintf("%.1f", float64(m.workload.bytes())/1e6/secs), objects, ratio})
	}
	console.Table(os.Stdout, rows, "llrrrr")
	fmt.Printf("\nMB/s is 10^6 bytes per second; \"partflow ÷ this\" is partflow's throughput over that method's\n"+
		"(1.00 = as fast). Median of %d interleaved round(s) after one warm-up; %d CPUs; redis-server, versitygw,\n"+
		"%d worker(s) and this program share them. Ratios, not absolute numbers, carry over to other machines.\n",
		cfg.rounds, runtime.NumCPU(), cfg.workers)

	fmt.Println()
	rows = [][]string{{"workload", "Redis commands", "per object", "per part", "Redis CPU", "µs per object", "top commands per object", "worker peak RSS", "conc × part + 64 MiB"}}
	for _, m := range results {
		if !m.method.partflow {
			continue
		}
		objects := float64(len(m.workload.files))
		var parts int64
		for _, f := range m.workload.files {
			parts += max(1, (f.size+partSize-1)/partSize)
		}
		c := m.redis
		rows = append(rows, []string{m.workload.name, strconv.FormatInt(c.calls, 10),
			fmt.Sprintf("%.1f", float64(c.calls)/objects), fmt.Sprintf("%.1f", float64(c.calls)/float64(parts)),
			c.cpu.Round(time.Millisecond).String(), fmt.Sprintf("%.0f", float64(c.cpu.Microseconds())/objects),
			c.top(3, objects), humanize.IBytes(uint64(m.rssKiB) << 10),
			humanize.IBytes(uint64(int64(m.workload.conc)*partSize + 64<<20))})
	}
	console.Table(os.Stdout, rows, "lrrrrrlrr")
	fmt.Println("\nRedis: deltas of INFO commandstats (commands run by Lua scripts included; INFO itself excluded) and of\n" +
		"the main thread's CPU time (INFO cpu) over a measured partflow round, median of the rounds. They include\n" +
		"everything partflow did in that time: the client's enqueue and wait, the workers' tasks and asynq's own\n" +
		"polling. Peak RSS is the largest VmHWM of the worker processes, warm-up included.")
}

// redisCost is what Redis spent between two readings.
type redisCost struct {
	calls  int64
	cpu    time.Duration
	byName map[string]int64
}

// readRedisCost reads INFO commandstats and INFO cpu.
func readRedisCost(ctx context.Context, rdb *redis.Client) (redisCost, error) {
	info, err := rdb.Info(ctx, "commandstats", "cpu").Result()
	if err != nil {
		return redisCost{}, fmt.Errorf("redis INFO: %w", err)
	}
	c := redisCost{byName: map[string]int64{}}
	var cpuMain, cpuAll float64
	for line := range strings.Lines(info) {
		line = strings.TrimSpace(line)
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(name, "cmdstat_"):
			name = strings.TrimPrefix(name, "cmdstat_")
			if name == "info" {
				continue // our own readings
			}
			for field := range strings.SplitSeq(rest, ",") {
				if v, ok := strings.CutPrefix(field, "calls="); ok {
					n, _ := strconv.ParseInt(v, 10, 64)
					c.byName[name] += n
					c.calls += n
				}
			}
		case name == "used_cpu_sys_main_thread" || name == "used_cpu_user_main_thread":
			v, _ := strconv.ParseFloat(rest, 64)
			cpuMain += v
		case name == "used_cpu_sys" || name == "used_cpu_user":
			v, _ := strconv.ParseFloat(rest, 64)
			cpuAll += v
		}
	}
	if cpuMain == 0 {
		cpuMain = cpuAll // an older Redis without per-thread figures
	}
	c.cpu = time.Duration(cpuMain * float64(time.Second))
	return c, nil
}

func (c redisCost) sub(o redisCost) redisCost {
	d := redisCost{calls: c.calls - o.calls, cpu: c.cpu - o.cpu, byName: map[string]int64{}}
	for k, v := range c.byName {
		if n := v - o.byName[k]; n > 0 {
			d.byName[k] = n
		}
	}
	return d
}

// top names the n most called commands with their calls per object.
func (c redisCost) top(n int, objects float64) string {
	names := slices.Collect(maps.Keys(c.byName))
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(c.byName[b], c.byName[a]) })
	var parts []string
	for _, k := range names[:min(n, len(names))] {
		parts = append(parts, fmt.Sprintf("%s %.1f", k, float64(c.byName[k])/objects))
	}
	return strings.Join(parts, ", ")
}

// medianCost is the round with the median number of commands.
func medianCost(cs []redisCost) redisCost {
	s := slices.Clone(cs)
	slices.SortFunc(s, func(a, b redisCost) int { return cmp.Compare(a.calls, b.calls) })
	return s[len(s)/2]
}

// workersPeakRSS is the largest VmHWM (peak resident set) of the running workers, in KiB.
func (st *stack) workersPeakRSS() int64 {
	var peak int64
	for _, w := range st.workers {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", w.Pid()))
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				peak = max(peak, n)
			}
		}
	}
	return peak
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
	s5cmd  string // the s5cmd binary, or "" to leave it out

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
	if p := filepath.Join(".tools", "bin", "s5cmd"); fileExists(p) {
		st.s5cmd = p
	} else {
		console.Step("s5cmd is not in .tools/bin (make tools builds it): leaving it out")
	}
	// The direct uploads get as many keep-alive connections as the workers have together.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = st.cfg.slots(max(st.cfg.concurrency, st.cfg.smallConc)) * 2
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

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// startWorkers (re)starts the worker processes with --concurrency conc and waits until each
// has registered with asynq.
func (st *stack) startWorkers(ctx context.Context, conc int) (err error) {
	if err := st.stopWorkers(); err != nil {
		return err
	}
	st.workers, err = localstack.StartWorkers(ctx, localstack.WorkersConfig{
		Bin: filepath.Join(st.cfg.binDir, "worker"), Count: st.cfg.workers,
		Args:     []string{"--concurrency", strconv.Itoa(conc), "--shutdown-timeout", "10s"},
		RedisURL: st.redis.URL(), S3: st.s3, VolumeRoot: st.volume, LogDir: stateDir,
	})
	return err
}

// stopWorkers stops the running workers; an error says one had exited on its own.
func (st *stack) stopWorkers() error {
	var errs []error
	for i, err := range localstack.StopAll(15*time.Second, st.workers...) {
		if err != nil {
			w := st.workers[i]
			errs = append(errs, fmt.Errorf("%s exited while the benchmark ran (%v); see %s", w.Name(), w.Wait(), w.LogPath()))
		}
	}
	st.workers = nil
	return errors.Join(errs...)
}

// stop stops everything the benchmark started and removes its data (logs stay).
func (st *stack) stop() {
	if err := st.stopWorkers(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
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
