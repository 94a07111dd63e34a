// Command worker runs partflow's tasks: it pulls upload tasks from Redis, reads byte ranges
// from the shared volume and uploads them to S3. Run as many as you like; they share nothing
// but Redis. SIGTERM stops fetching tasks and lets running ones finish within
// --shutdown-timeout; what is still running then goes back to the queue.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/partflow/partflow/internal/cli"
	"github.com/partflow/partflow/internal/redisconn"
	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/worker"
	"github.com/partflow/partflow/storage"
)

const usage = `Usage: worker [flags]

Runs partflow's upload tasks (upload:start, upload:part, upload:finalize).

S3 credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, the region from
AWS_REGION (default us-east-1). Memory is about --concurrency × part size (16 MiB by default)
plus a fixed overhead of a few tens of MiB.

Flags (each has the environment fallback named in its description):
`

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	redisURL := fs.String("redis-url", cli.Env("PARTFLOW_REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis URL (PARTFLOW_REDIS_URL): redis://, rediss://, redis-sentinel://")
	redisCluster := fs.Bool("redis-cluster", cli.EnvBool("PARTFLOW_REDIS_CLUSTER"), "treat --redis-url as a comma list of cluster seeds (PARTFLOW_REDIS_CLUSTER)")
	endpoint := fs.String("s3-endpoint", cli.Env("PARTFLOW_S3_ENDPOINT", ""), "S3 endpoint, http://host:port or https://host:port (PARTFLOW_S3_ENDPOINT)")
	volumeRoot := fs.String("volume-root", cli.Env("PARTFLOW_VOLUME_ROOT", ""), "mount point of the shared volume; sources are relative to it (PARTFLOW_VOLUME_ROOT)")
	concurrency := fs.Int("concurrency", cli.EnvInt("PARTFLOW_CONCURRENCY", 8), "tasks run at once (PARTFLOW_CONCURRENCY)")
	shutdownTimeout := fs.Duration("shutdown-timeout", cli.EnvDuration("PARTFLOW_SHUTDOWN_TIMEOUT", 30*time.Second),
		"how long running tasks may finish after SIGTERM; keep it below the pod's terminationGracePeriodSeconds (PARTFLOW_SHUTDOWN_TIMEOUT)")
	retention := fs.Duration("retention", cli.EnvDuration("PARTFLOW_RETENTION", 7*24*time.Hour), "how long finished records are kept (PARTFLOW_RETENTION)")
	logFormat := fs.String("log-format", cli.Env("PARTFLOW_LOG_FORMAT", ""), "text or json; default json unless stderr is a terminal (PARTFLOW_LOG_FORMAT)")
	logLevel := fs.String("log-level", cli.Env("PARTFLOW_LOG_LEVEL", "info"), "debug, info, warn or error (PARTFLOW_LOG_LEVEL)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}

	log, err := cli.NewLogger(os.Stderr, "partflow-worker", *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 2
	}
	if *volumeRoot == "" {
		fmt.Fprintln(os.Stderr, "worker: --volume-root (or PARTFLOW_VOLUME_ROOT) is required")
		return 2
	}
	volume, err := source.OpenVolume(*volumeRoot)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 2
	}
	defer volume.Close()

	s3, err := storage.NewMinio(storage.Config{
		Endpoint:     *endpoint,
		AccessKey:    os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretKey:    os.Getenv("AWS_SECRET_ACCESS_KEY"),
		Region:       os.Getenv("AWS_REGION"),
		MaxIdleConns: *concurrency,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 2
	}
	rdb, err := redisconn.Open(redisconn.Config{URL: *redisURL, Cluster: *redisCluster})
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 2
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err = rdb.Ping(ctx).Err()
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "worker: cannot reach Redis: %v\n", err)
		return 3
	}

	w, err := worker.New(worker.Config{Redis: rdb, S3: s3, Sources: volume, Logger: log, Concurrency: *concurrency,
		ShutdownTimeout: *shutdownTimeout, Retention: *retention})
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 2
	}
	log.Info("WorkerStarting", "s3_endpoint", *endpoint, "volume_root", *volumeRoot, "concurrency", *concurrency,
		"shutdown_timeout", shutdownTimeout.String())
	if err := w.Run(); err != nil {
		log.Error("WorkerFailed", "error", err)
		return 1
	}
	log.Info("WorkerStopped")
	return 0
}
