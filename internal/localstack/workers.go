package localstack

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
)

const (
	// workersReadyTimeout bounds how long StartWorkers waits for the workers to register.
	workersReadyTimeout = 30 * time.Second
	// workerStopGrace is how long StartWorkers, when it fails, gives a worker after SIGTERM.
	workerStopGrace = 15 * time.Second
)

// WorkerEnv returns the environment of a partflow worker (cmd/worker) that talks to the
// Redis at redisURL, the S3 server s3 and the files under volumeRoot (best absolute): this
// process's environment without anything inherited that could point it elsewhere (see
// IsolatedEnv), plus PARTFLOW_REDIS_URL, PARTFLOW_S3_ENDPOINT, PARTFLOW_VOLUME_ROOT,
// PARTFLOW_LOG_FORMAT=text, s3's credentials and AWS_REGION=us-east-1.
func WorkerEnv(redisURL string, s3 *S3, volumeRoot string) []string {
	return IsolatedEnv(
		"PARTFLOW_REDIS_URL="+redisURL,
		"PARTFLOW_S3_ENDPOINT="+s3.Endpoint,
		"PARTFLOW_VOLUME_ROOT="+volumeRoot,
		"PARTFLOW_LOG_FORMAT=text",
		"AWS_ACCESS_KEY_ID="+s3.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+s3.SecretKey,
		"AWS_REGION=us-east-1",
	)
}

// WorkersConfig configures StartWorkers.
type WorkersConfig struct {
	// Bin is the worker binary (cmd/worker). Required.
	Bin string
	// Count is how many workers to start; at least 1.
	Count int
	// Args are the flags every worker gets, e.g. --concurrency.
	Args []string
	// RedisURL, S3 and VolumeRoot are what the workers use (see WorkerEnv). RedisURL and S3
	// are required; VolumeRoot is made absolute.
	RedisURL   string
	S3         *S3
	VolumeRoot string
	// LogDir receives worker-N.log for N = 1…Count. Required.
	LogDir string
}

// StartWorkers starts cfg.Count workers, named worker-1…worker-N, with WorkerEnv and each
// its own PARTFLOW_METRICS_ADDR on a free loopback port (the default :9090 would collide),
// and waits until every one has registered with asynq in the Redis at cfg.RedisURL. If a
// worker exits first, the workers have not all registered after 30 s, or ctx ends, it stops
// the workers it started and returns an error; the caller stops them otherwise.
func StartWorkers(ctx context.Context, cfg WorkersConfig) (workers []*Process, err error) {
	if cfg.Bin == "" || cfg.Count < 1 || cfg.RedisURL == "" || cfg.S3 == nil || cfg.LogDir == "" {
		return nil, errors.New("localstack: start workers: WorkersConfig needs Bin, Count ≥ 1, RedisURL, S3 and LogDir")
	}
	volume, err := filepath.Abs(cfg.VolumeRoot)
	if err != nil {
		return nil, fmt.Errorf("localstack: start workers: %w", err)
	}
	redisOpt, err := asynq.ParseRedisURI(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("localstack: start workers: %w", err)
	}
	defer func() {
		if err != nil {
			StopAll(workerStopGrace, workers...)
			workers = nil
		}
	}()
	env := WorkerEnv(cfg.RedisURL, cfg.S3, volume)
	for n := 1; n <= cfg.Count; n++ {
		port, err := FreePort()
		if err != nil {
			return workers, err
		}
		w, err := StartProcess(ProcessConfig{
			Name:    "worker-" + strconv.Itoa(n),
			Bin:     cfg.Bin,
			Args:    cfg.Args,
			Env:     append(slices.Clip(env), "PARTFLOW_METRICS_ADDR=127.0.0.1:"+strconv.Itoa(port)),
			LogPath: filepath.Join(cfg.LogDir, "worker-"+strconv.Itoa(n)+".log"),
		})
		if err != nil {
			return workers, err
		}
		workers = append(workers, w)
	}
	insp := asynq.NewInspector(redisOpt)
	defer insp.Close()
	return workers, waitRegistered(ctx, insp, workers, cfg.LogDir)
}

// waitRegistered polls asynq's list of servers until every worker's pid is in it.
func waitRegistered(ctx context.Context, insp *asynq.Inspector, workers []*Process, logDir string) error {
	deadline := time.Now().Add(workersReadyTimeout)
	for {
		servers, err := insp.Servers()
		registered := map[int]bool{}
		for _, s := range servers {
			registered[s.PID] = true
		}
		ready := 0
		for _, w := range workers {
			if w.Exited() {
				return fmt.Errorf("%s exited at start (%v); its log %s:\n%s", w.Name(), w.Wait(), w.LogPath(), w.LogTail())
			}
			if registered[w.Pid()] {
				ready++
			}
		}
		if ready == len(workers) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d workers registered with asynq after %s (last error: %v); see %s",
				ready, len(workers), workersReadyTimeout, err, filepath.Join(logDir, "worker-*.log"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
