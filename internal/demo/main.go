// Command demo is `make demo`: it brings up partflow's whole local stack and moves a sample
// volume into S3 through it.
//
// Under .state/demo/ (wiped first) it starts its own redis-server (AOF on, noeviction) and
// versitygw on free loopback ports, creates the bucket, writes sample files of 0 B, 1 B,
// 5 MiB−1, 5 MiB, 5 MiB+1 and --big-size bytes of random data, starts two bin/worker
// processes and runs `bin/enqueuer put --wait` for every file, with the terminal attached so
// the progress bars show. Then it reads every object back, checks its SHA-256 against the
// file's and prints a summary. It stops everything it started when it exits, also on Ctrl-C;
// with --keep it leaves the stack running until Ctrl-C.
//
// The exit code is 0 when every put completed and every object matched, 1 otherwise, 2 for
// bad flags or a stack that did not start, 130 when interrupted.
//
// Layout of .state/demo/:
//
//	redis/        redis-server's AOF and redis.log
//	s3/           versitygw's meta/ and data/ (the bucket is data/partflow-demo) and versitygw.log
//	volume/       the sample files (the workers' --volume-root)
//	worker-N.log  each worker's log
//	monitor.log   the dashboard's log, once cmd/monitor exists
//	env           shell exports to talk to the stack (source it while --keep runs)
package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/minio/minio-go/v7"
	"github.com/redis/go-redis/v9"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/console"
	"github.com/partflow/partflow/internal/localstack"
	"github.com/partflow/partflow/internal/state"
)

const (
	stateDir          = ".state/demo"
	bucket            = "partflow-demo"
	keyPrefix         = "demo/"
	sampleDir         = "samples" // in the volume; migrated to keyPrefix
	partSize          = "5MiB"
	workerCount       = 2
	workerConcurrency = 4
	mib               = 1 << 20
)

// Exit codes.
const (
	exitOK          = 0
	exitMismatch    = 1 // an upload did not complete or an object did not match its file
	exitSetup       = 2 // bad flags, missing binaries, a server that did not start
	exitInterrupted = 130
)

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	keep := fs.Bool("keep", false, "leave the stack running after the summary until Ctrl-C, to poke at it")
	bigSize := fs.String("big-size", "200MiB", "size of the big sample file")
	binDir := fs.String("bin", "bin", "directory with the worker and enqueuer binaries (and monitor, once built)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitSetup
	}
	big, err := humanize.ParseBytes(*bigSize)
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: bad --big-size %q: %v\n", *bigSize, err)
		return exitSetup
	}
	for _, name := range []string{"worker", "enqueuer"} {
		if _, err := os.Stat(filepath.Join(*binDir, name)); err != nil {
			fmt.Fprintf(os.Stderr, "demo: %v (run `make build` first, or `make demo`)\n", err)
			return exitSetup
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	st := &stack{binDir: *binDir}
	defer st.stop()
	code := demo(ctx, st, int64(big), *keep)
	if ctx.Err() != nil && code != exitOK {
		fmt.Println("\ninterrupted")
		return exitInterrupted
	}
	return code
}

// demo runs the demo on st and returns the exit code; the caller stops st.
func demo(ctx context.Context, st *stack, bigSize int64, keep bool) int {
	console.Step("preparing %s/", stateDir)
	if err := os.RemoveAll(stateDir); err != nil {
		return setupFailed(err)
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return setupFailed(err)
	}
	if err := st.start(ctx); err != nil {
		return setupFailed(err)
	}
	console.Step("redis-server %s (AOF on, noeviction), log %s", st.redis.Addr(), st.redis.LogPath())
	console.Step("versitygw    %s (posix backend), log %s", st.s3.Endpoint, st.s3.LogPath())
	console.Step("bucket       %s", bucket)

	samples := sampleSet(bigSize)
	console.Step("writing %d sample files (%s of random bytes) into %s", len(samples),
		humanize.IBytes(uint64(totalSize(samples))), filepath.Join(st.volume, sampleDir))
	if err := os.MkdirAll(filepath.Join(st.volume, sampleDir), 0o755); err != nil {
		return setupFailed(err)
	}
	for i := range samples {
		if err := samples[i].write(filepath.Join(st.volume, sampleDir)); err != nil {
			return setupFailed(err)
		}
	}

	if err := st.startWorkers(ctx); err != nil {
		return setupFailed(err)
	}
	console.Step("workers      %d × bin/worker --concurrency %d, logs %s", workerCount, workerConcurrency,
		filepath.Join(stateDir, "worker-*.log"))
	dashboard := st.startDashboard(ctx)
	console.Step("%s", dashboard)
	if err := st.writeEnvFile(); err != nil {
		return setupFailed(err)
	}

	fmt.Println()
	console.Step("enqueuer migrate --bucket %s --prefix %s --source %s --part-size %s --wait",
		bucket, keyPrefix, sampleDir, partSize)
	took, migrateErr := st.migrate(ctx)
	if ctx.Err() != nil {
		return exitInterrupted
	}
	results := make([]result, len(samples))
	for i, s := range samples {
		results[i] = result{sample: s, key: keyPrefix + s.name}
	}

	fmt.Println()
	console.Step("reading every object back to check its SHA-256")
	st.lookupParts(ctx, results)
	for i := range results {
		results[i].verify(ctx, st.minio)
	}
	code := summary(results, took)
	if migrateErr != nil {
		fmt.Printf("enqueuer migrate: %v\n", migrateErr)
		code = exitMismatch
	}
	st.reportWorkerExits()

	fmt.Println()
	fmt.Printf("logs:      %s/ (worker-N.log, redis/redis.log, s3/versitygw.log)\n", stateDir)
	if keep && ctx.Err() == nil {
		fmt.Println(dashboard)
		st.printKeepHelp()
		<-ctx.Done()
		fmt.Println()
	}
	return code
}

func setupFailed(err error) int {
	fmt.Fprintf(os.Stderr, "demo: %v\n", err)
	return exitSetup
}

// sample is one file of the sample volume.
type sample struct {
	name string // path relative to the sample directory
	size int64
	sum  []byte // SHA-256 of the content, set by write
}

// sampleSet returns the sample files: the edges around S3's 5 MiB minimum part size (migrated
// with 5 MiB parts, so 5 MiB+1 becomes two parts and 5 MiB stays one PUT), and a big file.
func sampleSet(bigSize int64) []sample {
	return []sample{
		{name: "empty.bin", size: 0},
		{name: "one-byte.bin", size: 1},
		{name: "5MiB-minus-1.bin", size: 5*mib - 1},
		{name: "5MiB.bin", size: 5 * mib},
		{name: "5MiB-plus-1.bin", size: 5*mib + 1},
		{name: "big.bin", size: bigSize},
	}
}

func totalSize(samples []sample) (n int64) {
	for _, s := range samples {
		n += s.size
	}
	return n
}

// write creates the file under root with random content, hashing it on the way.
func (s *sample) write(root string) error {
	f, err := os.Create(filepath.Join(root, s.name))
	if err != nil {
		return err
	}
	var seed [32]byte
	for i := 0; i < len(seed); i += 8 {
		binary.LittleEndian.PutUint64(seed[i:], rand.Uint64()) // math/rand/v2 is seeded randomly
	}
	h := sha256.New()
	_, err = io.CopyN(io.MultiWriter(f, h), rand.NewChaCha8(seed), s.size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", s.name, err)
	}
	s.sum = h.Sum(nil)
	return nil
}

// result is what happened to one sample.
type result struct {
	sample
	key   string
	took  time.Duration // from the upload's creation to its last change
	parts int           // from the upload record; 0 if unknown
	state state.State
	check verdict
}

// verdict is the outcome of reading an object back.
type verdict struct {
	size  int64
	match bool
	err   error
}

// migrate runs `enqueuer migrate --wait` over the sample directory with the terminal
// attached, and returns how long it took.
func (st *stack) migrate(ctx context.Context) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(st.binDir, "enqueuer"), "migrate",
		"--redis-url", st.redis.URL(), "--volume-root", st.volume, "--bucket", bucket, "--prefix", keyPrefix,
		"--source", sampleDir, "--part-size", partSize, "--wait")
	cmd.Env = localstack.IsolatedEnv("PARTFLOW_REDIS_URL=" + st.redis.URL())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	// On Ctrl-C the terminal interrupts the enqueuer as well; on SIGTERM, pass it on.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	return time.Since(start), err
}

// lookupParts fills in each result's part count and state from its upload record.
func (st *stack) lookupParts(ctx context.Context, results []result) {
	store, err := state.New(st.rdb, state.Config{})
	if err != nil {
		return
	}
	mids, err := st.rdb.ZRange(ctx, state.MigrationsIndexKey, 0, -1).Result()
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: list migrations: %v\n", err)
		return
	}
	byKey := map[string]state.Upload{}
	for _, mid := range mids {
		ids, err := store.MigrationUploads(ctx, mid, 0, 100)
		if err != nil {
			continue
		}
		for _, id := range ids {
			if u, err := store.GetUpload(ctx, id); err == nil && u.Bucket == bucket {
				byKey[u.Key] = u
			}
		}
	}
	for i := range results {
		if u, ok := byKey[results[i].key]; ok {
			results[i].parts, results[i].state = u.Parts, u.State
			results[i].took = u.Updated.Sub(u.Created)
		}
	}
}

// verify reads the object back and compares its SHA-256 with the file's.
func (r *result) verify(ctx context.Context, mc *minio.Client) {
	sum, n, err := localstack.ObjectSHA256(ctx, mc, bucket, r.key)
	r.check.size = n
	if err != nil {
		r.check.err = err
		return
	}
	r.check.match = n == r.size && sum == hex.EncodeToString(r.sum)
}

// summary prints the table and the throughput and returns the exit code.
func summary(results []result, took time.Duration) int {
	code := exitOK
	var total int64
	rows := [][]string{{"key", "size", "bytes", "parts", "sha256", "time", "state"}}
	for _, r := range results {
		check, put, parts := "✓", string(r.state), "?"
		if !r.check.match {
			check, code = "✗", exitMismatch
		}
		if r.state != state.Completed {
			code = exitMismatch
		}
		if r.parts > 0 {
			parts = strconv.Itoa(r.parts)
		}
		rows = append(rows, []string{r.key, humanize.IBytes(uint64(r.size)), humanize.Comma(r.size), parts, check,
			r.took.Round(time.Millisecond).String(), put})
		total += r.size
	}
	fmt.Println()
	console.Table(os.Stdout, rows, "lrrrcrl")
	for _, r := range results {
		if r.check.err != nil {
			fmt.Printf("%s: read back: %v\n", r.key, r.check.err)
		} else if !r.check.match {
			fmt.Printf("%s: read back %d bytes whose SHA-256 differs from the file's\n", r.key, r.check.size)
		}
	}
	fmt.Printf("\n%d objects, %s migrated in %s: %s/s (%.1f MB/s) overall\n", len(results),
		humanize.IBytes(uint64(total)), took.Round(time.Millisecond),
		humanize.IBytes(uint64(float64(total)/max(took.Seconds(), 0.001))), float64(total)/1e6/max(took.Seconds(), 0.001))
	if code == exitOK {
		fmt.Println("every object matches its file ✓")
	} else {
		fmt.Println("FAILED: some uploads did not complete or objects do not match ✗")
	}
	return code
}

// stack is everything the demo started.
type stack struct {
	binDir string
	local  *localstack.Stack
	volume string
	redis  *localstack.Redis
	s3     *localstack.S3
	rdb    *redis.Client
	minio  *minio.Client

	workers []*localstack.Process
	monitor *localstack.Process
}

// start starts redis-server and versitygw and opens clients to them.
func (st *stack) start(ctx context.Context) error {
	ls, err := localstack.StartStack(ctx, localstack.StackConfig{Dir: stateDir, Bucket: bucket})
	st.local = ls
	st.volume, st.redis, st.s3, st.rdb, st.minio = ls.Volume, ls.Redis, ls.S3, ls.RDB, ls.Minio
	return err
}

func (st *stack) startWorkers(ctx context.Context) error {
	err := st.local.StartWorkers(ctx, filepath.Join(st.binDir, "worker"), workerCount,
		"--concurrency", strconv.Itoa(workerConcurrency), "--shutdown-timeout", "10s")
	st.workers = st.local.Workers
	return err
}

func (st *stack) startDashboard(ctx context.Context) string {
	bin := filepath.Join(st.binDir, "monitor")
	if _, err := os.Stat(bin); err != nil {
		return "dashboard: not built yet (cmd/monitor, issue 6)"
	}
	port, err := localstack.FreePort()
	if err != nil {
		return "dashboard: " + err.Error()
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	logPath := filepath.Join(stateDir, "monitor.log")
	c, err := localstack.StartProcess(localstack.ProcessConfig{Name: "monitor", Bin: bin,
		Args: []string{"--listen", addr, "--no-auth"},
		Env:  localstack.IsolatedEnv("PARTFLOW_REDIS_URL=" + st.redis.URL()), LogPath: logPath})
	if err != nil {
		return "dashboard: " + err.Error()
	}
	st.monitor = c
	url := "http://" + addr + "/"
	deadline := time.Now().Add(15 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			return "dashboard: " + url + " (partflow's migrations view; asynqmon at " + url + "monitoring/)"
		}
		if c.Exited() || time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Sprintf("dashboard: bin/monitor did not answer on %s (%v); see %s", url, err, logPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// writeEnvFile writes shell exports for the running stack.
func (st *stack) writeEnvFile() error {
	vol, _ := filepath.Abs(st.volume)
	var b strings.Builder
	fmt.Fprintf(&b, "# source this file to talk to the demo stack while `make demo DEMO_FLAGS=--keep` runs\n")
	fmt.Fprintf(&b, "export PARTFLOW_REDIS_URL=%s\n", st.redis.URL())
	fmt.Fprintf(&b, "export PARTFLOW_S3_ENDPOINT=%s\n", st.s3.Endpoint)
	fmt.Fprintf(&b, "export PARTFLOW_VOLUME_ROOT=%s\n", vol)
	fmt.Fprintf(&b, "export AWS_ACCESS_KEY_ID=%s\n", st.s3.AccessKey)
	fmt.Fprintf(&b, "export AWS_SECRET_ACCESS_KEY=%s\n", st.s3.SecretKey)
	return os.WriteFile(filepath.Join(stateDir, "env"), []byte(b.String()), 0o600)
}

func (st *stack) printKeepHelp() {
	fmt.Printf(`
the stack keeps running until Ctrl-C:
  redis      %s
  s3         %s  (bucket %s; credentials in %s/env)
  volume     %s
try, in another shell in this directory:
`, st.redis.URL(), st.s3.Endpoint, bucket, stateDir, st.volume)
	for _, c := range keepCommands(st.binDir) {
		fmt.Printf("  %s\n", c)
	}
	fmt.Println()
}

// keepCommands are the commands printKeepHelp suggests, in order; the demo's test runs them.
// Sources are relative to the volume root, where the samples are under sampleDir.
func keepCommands(binDir string) []string {
	enqueuer := filepath.Join(binDir, "enqueuer")
	return []string{
		"source " + filepath.Join(stateDir, "env"),
		fmt.Sprintf("%s put --source %s/big.bin --bucket %s --key again/big.bin --wait", enqueuer, sampleDir, bucket),
		enqueuer + " list",
		fmt.Sprintf("%s status %s", enqueuer, client.DeriveMigrationID(bucket, keyPrefix, "dir:"+sampleDir)),
	}
}

// reportWorkerExits names workers that died while the demo ran.
func (st *stack) reportWorkerExits() {
	for _, w := range st.workers {
		if w.Exited() {
			fmt.Printf("warning: %s exited during the demo (%v); see %s\n", w.Name(), w.Wait(), w.LogPath())
		}
	}
}

// stop stops everything in reverse order of starting; it is safe on a partly started stack.
func (st *stack) stop() {
	localstack.StopAll(15*time.Second, append([]*localstack.Process{st.monitor}, st.workers...)...)
	if st.local == nil {
		return
	}
	for _, err := range st.local.Stop() {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
	}
	if st.local.Started() {
		fmt.Println("stopped everything the demo started")
	}
}
