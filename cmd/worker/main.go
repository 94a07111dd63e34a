// Command worker runs partflow's tasks: it pulls upload tasks from Redis, reads byte ranges
// from the shared volume, source URLs or an S3 source store and uploads them to S3. Run as
// many as you like; they share nothing but Redis. SIGTERM stops fetching tasks and lets running ones finish within
// --shutdown-timeout; what is still running then goes back to the queue.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/dustin/go-humanize"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/partflow/partflow/internal/cli"
	"github.com/partflow/partflow/internal/metrics"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/tracing"
	"github.com/partflow/partflow/internal/worker"
)

const usage = `Usage: worker [flags]

Runs partflow's tasks (upload:start, upload:part, upload:finalize, upload:batch, upload:abort,
migration:feed, migration:report and the periodic maintenance:janitor) and serves /metrics,
/healthz and /readyz on --metrics-addr.

Sources are paths relative to --volume-root, http(s) URLs whose host --allow-url-host
allows, and/or s3://bucket/key objects of the S3 source store (--source-s3-endpoint); at least
one is required. The source store's credentials come from PARTFLOW_SOURCE_AWS_ACCESS_KEY_ID and
PARTFLOW_SOURCE_AWS_SECRET_ACCESS_KEY (PARTFLOW_SOURCE_AWS_SESSION_TOKEN) or the shared-files
profile PARTFLOW_SOURCE_AWS_PROFILE, never the destination's unless
--source-s3-credentials=destination says so. Parts are ranged GETs pinned with If-Match; on the
destination's own store (--source-s3-copy) they are server-side copies. URL sources never connect to loopback, private,
link-local, CGNAT or cloud metadata addresses unless --url-allow-private or --url-allow-addr
says so. Per-host request headers (an Authorization token, say) come from --url-headers-file,
a JSON object {"host": {"Header": "value"}}; they go to that host only and are never logged.

S3 credentials come from the AWS credential chain: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
(and AWS_SESSION_TOKEN); the shared credentials files (AWS_PROFILE); a web identity token
(AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, as EKS IRSA sets them; AWS_ENDPOINT_URL_STS);
ECS/EKS container credentials; EC2 instance metadata. Temporary credentials are refreshed
before they expire. The region comes from AWS_REGION (default us-east-1). Part and PUT buffers
held at once never exceed --memory-budget (default: half the container's memory limit, else
--concurrency × 32 MiB); it is also the largest part the fleet accepts, so give every worker
the same value. GOMEMLIMIT is set to 90% of the container's memory limit (cgroup) at start
unless GOMEMLIMIT is set.

With --otel, or OTEL_EXPORTER_OTLP_ENDPOINT set, the worker continues each upload's trace
over OTLP/HTTP (the standard OTEL_* variables apply; see the README's Tracing).

Workers heartbeat the tasks they run (--heartbeat-interval); the tasks of a worker that died
run again on another within seconds instead of after asynq's lease recovery (60-120 s).

Every flag has the environment fallback named in its description; a bad value in a flag or a
variable is an error (exit 2) naming it.

Flags:
`

func main() {
	// GOMEMLIMIT from the cgroup's memory limit, unless GOMEMLIMIT (or AUTOMEMLIMIT=off) is set.
	_, _ = memlimit.Set(memlimit.WithRatio(0.9), memlimit.WithProvider(memlimit.FromCgroup),
		memlimit.WithLogger(slog.New(slog.DiscardHandler)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the worker until ctx ends and returns the exit code: 0 after a clean stop, 1 when
// it failed, 2 for bad flags, variables or sources, 3 when Redis cannot be reached. It goes
// flags → config (parseConfig) → open (sources, S3, the metrics listener; then Redis) → run.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, code, ok := parseConfig(args, stdout, stderr)
	if !ok {
		return code
	}
	log, err := cfg.log.Logger(stderr, "partflow-worker")
	if err != nil {
		fmt.Fprintln(stderr, "worker:", err)
		return 2
	}
	tp, err := tracing.New(ctx, cfg.tracing)
	if err != nil {
		fmt.Fprintln(stderr, "worker: --otel (PARTFLOW_OTEL, OTEL_*):", err)
		return 2
	}
	defer func() {
		if err := tp.Close(ctx); err != nil {
			log.Warn("TracesNotFlushed", "error", err)
		}
	}()
	res, err := open(cfg, tp)
	defer res.close()
	if err != nil {
		fmt.Fprintln(stderr, "worker:", err)
		return 2
	}
	rdb, code := cli.OpenRedis(ctx, "worker", cfg.redis, stderr)
	if code != 0 {
		return code
	}
	defer rdb.Close()
	if tp != nil {
		rdb.AddHook(tp.RedisHook(state.ScriptNames()))
	}
	budget, budgetFrom := cfg.run.memoryBudget, "--memory-budget"
	if budget == 0 {
		budget, budgetFrom = worker.DefaultMemoryBudget(cfg.run.concurrency)
	}
	// Queue depths are the monitor's to export (once for the fleet), not every worker's.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		metrics.NewBuildInfo("worker"))
	if len(res.listings) > 0 {
		cfg.feed.Listings = res.listings
	}
	w, err := worker.New(worker.Config{Redis: rdb, S3: res.s3, Sources: res.sources, Copier: res.copier, Logger: log,
		Concurrency: cfg.run.concurrency, MemoryBudget: budget, ShutdownTimeout: cfg.run.shutdownTimeout,
		Retention: cfg.run.retention, Queues: cfg.run.queues, PartRetries: cfg.run.partRetries, PartTimeout: cfg.run.partTimeout,
		FleetBandwidth: cfg.run.fleetBwlimit, JanitorInterval: cfg.janitorInterval, Metrics: metrics.New(reg),
		Janitor: cfg.janitor, HeartbeatInterval: cfg.run.heartbeat, NoRescue: !cfg.run.rescue, Tracing: tp,
		IdlePollInterval: cfg.run.idlePoll, Feed: cfg.feed})
	if err != nil {
		fmt.Fprintln(stderr, "worker:", err)
		return 2
	}
	reg.MustRegister(bufferGauges(w)...)
	defer res.serveMetrics(ctx, log, cfg.metricsAddr, worker.Probes{Redis: rdb, S3: res.s3, Gatherer: reg})()

	log.Info("WorkerStarting", "s3_endpoint", cfg.s3Endpoint, "volume_root", cfg.volumeRoot, "url_hosts", cfg.url.AllowHosts,
		"url_header_hosts", res.urlHeaderHosts, "source_s3_endpoint", sourceEndpoint(cfg.sourceS3),
		"source_s3_copy", res.copier != nil, "concurrency", cfg.run.concurrency,
		"memory_budget", humanize.IBytes(uint64(budget)), "memory_budget_from", budgetFrom,
		"shutdown_timeout", cfg.run.shutdownTimeout.String(), "metrics_addr", cfg.metricsAddr, "tracing", tp != nil)
	if err := w.Run(ctx); err != nil {
		log.Error("WorkerFailed", "error", err)
		return 1
	}
	log.Info("WorkerStopped")
	return 0
}

// sourceEndpoint names the S3 source store's endpoint, empty without one.
func sourceEndpoint(st sourceStore) string {
	if st.cfg == nil {
		return ""
	}
	return st.cfg.Endpoint
}
