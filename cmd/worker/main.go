// Command worker runs partflow's tasks: it pulls upload tasks from Redis, reads byte ranges
// from the shared volume or source URLs and uploads them to S3. Run as many as you like; they share nothing
// but Redis. SIGTERM stops fetching tasks and lets running ones finish within
// --shutdown-timeout; what is still running then goes back to the queue.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/dustin/go-humanize"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/partflow/partflow/internal/cli"
	"github.com/partflow/partflow/internal/metrics"
	"github.com/partflow/partflow/internal/redisconn"
	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/worker"
	"github.com/partflow/partflow/storage"
	"github.com/partflow/partflow/tasks"
)

const usage = `Usage: worker [flags]

Runs partflow's tasks (upload:start, upload:part, upload:finalize, upload:abort and the
periodic maintenance:janitor) and serves /metrics, /healthz and /readyz on --metrics-addr.

Sources are paths relative to --volume-root and/or http(s) URLs whose host --allow-url-host
allows; at least one of the two is required. URL sources never connect to loopback, private,
link-local, CGNAT or cloud metadata addresses unless --url-allow-private or --url-allow-addr
says so. Per-host request headers (an Authorization token, say) come from --url-headers-file,
a JSON object {"host": {"Header": "value"}}; they go to that host only, over https only
unless the key names an http:// origin ("http://host[:port]"), and are never logged.

S3 credentials come from the AWS credential chain: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
(and AWS_SESSION_TOKEN); the shared credentials files (AWS_PROFILE); a web identity token
(AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, as EKS IRSA sets them; AWS_ENDPOINT_URL_STS);
ECS/EKS container credentials; EC2 instance metadata. Temporary credentials are refreshed
before they expire. The region comes from AWS_REGION (default us-east-1). Part and PUT buffers
held at once never exceed --memory-budget (default: half the container's memory limit, else
--concurrency × 32 MiB); it is also the largest part the fleet accepts, so give every worker
the same value.

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
	volumeRoot := fs.String("volume-root", cli.Env("PARTFLOW_VOLUME_ROOT", ""), "mount point of the shared volume; sources are relative to it; empty: no volume sources (PARTFLOW_VOLUME_ROOT)")
	urlHosts := listFlag(fs, "allow-url-host", "PARTFLOW_ALLOW_URL_HOSTS",
		"host that URL sources may name: exact host, *.suffix or *; repeat or comma-separate; none: no URL sources (PARTFLOW_ALLOW_URL_HOSTS)")
	urlAllowAddrs := listFlag(fs, "url-allow-addr", "PARTFLOW_URL_ALLOW_ADDRS",
		"address or CIDR that URL sources may connect to even if loopback, private or metadata, e.g. 10.1.2.0/24; repeat or comma-separate (PARTFLOW_URL_ALLOW_ADDRS)")
	urlAllowPrivate := fs.Bool("url-allow-private", cli.EnvBool("PARTFLOW_URL_ALLOW_PRIVATE"),
		"let URL sources connect to loopback, private, link-local, CGNAT and unique-local addresses (never metadata) (PARTFLOW_URL_ALLOW_PRIVATE)")
	urlHeadersFile := fs.String("url-headers-file", cli.Env("PARTFLOW_URL_HEADERS_FILE", ""),
		`JSON file of per-host request headers for URL sources, {"host": {"Header": "value"}} (PARTFLOW_URL_HEADERS_FILE)`)
	urlTimeout := fs.Duration("url-timeout", cli.EnvDuration("PARTFLOW_URL_TIMEOUT", 30*time.Second),
		"how long a URL source's server may stay silent: to connect and answer, and between body bytes (PARTFLOW_URL_TIMEOUT)")
	concurrency := fs.Int("concurrency", cli.EnvInt("PARTFLOW_CONCURRENCY", 8), "tasks run at once, at least 1 (PARTFLOW_CONCURRENCY)")
	memoryBudget := fs.String("memory-budget", cli.Env("PARTFLOW_MEMORY_BUDGET", "0"),
		"bytes of part buffers held at once, e.g. 256MiB, and the largest part accepted; same on every worker; 0: half the cgroup memory limit, else concurrency × 32MiB (PARTFLOW_MEMORY_BUDGET)")
	shutdownTimeout := fs.Duration("shutdown-timeout", cli.EnvDuration("PARTFLOW_SHUTDOWN_TIMEOUT", 30*time.Second),
		"how long running tasks may finish after SIGTERM; keep it below the pod's terminationGracePeriodSeconds (PARTFLOW_SHUTDOWN_TIMEOUT)")
	retention := fs.Duration("retention", cli.EnvDuration("PARTFLOW_RETENTION", 7*24*time.Hour), "how long finished records are kept (PARTFLOW_RETENTION)")
	logFormat := fs.String("log-format", cli.Env("PARTFLOW_LOG_FORMAT", ""), "text or json; default json unless stderr is a terminal (PARTFLOW_LOG_FORMAT)")
	logLevel := fs.String("log-level", cli.Env("PARTFLOW_LOG_LEVEL", "info"), "debug, info, warn or error (PARTFLOW_LOG_LEVEL)")
	metricsAddr := fs.String("metrics-addr", cli.Env("PARTFLOW_METRICS_ADDR", ":9090"), "address of /metrics, /healthz and /readyz; empty disables (PARTFLOW_METRICS_ADDR)")
	queues := fs.String("queues", cli.Env("PARTFLOW_QUEUES", "high=6,default=3,low=1"), "queue weights (PARTFLOW_QUEUES)")
	partRetries := fs.Int("part-retries", cli.EnvInt("PARTFLOW_PART_RETRIES", 25), "retry budget of the part tasks this worker enqueues; a killed worker's task counts one (PARTFLOW_PART_RETRIES)")
	partTimeout := fs.Duration("part-timeout", cli.EnvDuration("PARTFLOW_PART_TIMEOUT", 0), "time limit of one part attempt; 0 means 5m plus 1s per MiB of the part (PARTFLOW_PART_TIMEOUT)")
	bwlimit := fs.String("bwlimit", cli.Env("PARTFLOW_BWLIMIT", "0"), "cap on bytes per second this worker sends to S3, e.g. 100MiB; 0 means no limit (PARTFLOW_BWLIMIT)")
	janitorInterval := fs.Duration("janitor-interval", cli.EnvDuration("PARTFLOW_JANITOR_INTERVAL", 10*time.Minute), "how often the fleet runs the janitor (once per interval in all); negative disables (PARTFLOW_JANITOR_INTERVAL)")
	stalledAfter := fs.Duration("stalled-after", cli.EnvDuration("PARTFLOW_STALLED_AFTER", 24*time.Hour), "the janitor fails uploads without progress (and without queued tasks) for this long, keeping their parts for resume (PARTFLOW_STALLED_AFTER)")
	abandonAfter := fs.Duration("abandon-after", cli.EnvDuration("PARTFLOW_ABANDON_AFTER", 7*24*time.Hour), "the janitor aborts the multipart upload (the uploaded parts) of an upload failed and not resumed for this long (PARTFLOW_ABANDON_AFTER)")
	orphanGrace := fs.Duration("orphan-grace", cli.EnvDuration("PARTFLOW_ORPHAN_GRACE", 24*time.Hour), "the janitor aborts unowned multipart uploads older than this (PARTFLOW_ORPHAN_GRACE)")
	s3opts := defineS3Flags(fs)
	heartbeat := fs.Duration("heartbeat-interval", cli.EnvDuration("PARTFLOW_HEARTBEAT_INTERVAL", time.Second),
		"how often this worker tells the fleet which tasks it runs, so a dead worker's tasks run again within seconds (PARTFLOW_HEARTBEAT_INTERVAL)")
	rescue := fs.Bool("rescue", true,
		"rerun the tasks of workers that died within seconds; false leaves them to asynq's recovery, 60-120 s, unless another worker rescues them (PARTFLOW_RESCUE)")
	managed := fs.String("janitor-managed", cli.Env("PARTFLOW_JANITOR_MANAGED", ""), "comma list of bucket[/prefix] where the janitor aborts orphaned multipart uploads (PARTFLOW_JANITOR_MANAGED)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *concurrency < 1 {
		// asynq would quietly take 0 as "one per CPU".
		fmt.Fprintf(os.Stderr, "worker: --concurrency (PARTFLOW_CONCURRENCY) must be at least 1, got %d\n", *concurrency)
		return 2
	}

	log, err := cli.NewLogger(os.Stderr, "partflow-worker", *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 2
	}
	slog.SetDefault(log) // go-redis's own lines come through it at debug level (internal/redisconn)
	var sources source.Mux
	if *volumeRoot != "" {
		volume, err := source.OpenVolume(*volumeRoot)
		if err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			return 2
		}
		defer volume.Close()
		sources.Volume = volume
	}
	var urlHeaderHosts []string
	if len(*urlHosts) > 0 {
		cfg := source.URLConfig{AllowHosts: *urlHosts, AllowPrivate: *urlAllowPrivate, Timeout: *urlTimeout}
		if cfg.AllowAddrs, err = parsePrefixes(*urlAllowAddrs); err != nil {
			fmt.Fprintln(os.Stderr, "worker: --url-allow-addr:", err)
			return 2
		}
		if *urlHeadersFile != "" {
			if cfg.Headers, err = source.LoadURLHeaders(*urlHeadersFile); err != nil {
				fmt.Fprintln(os.Stderr, "worker:", err)
				return 2
			}
			for host := range cfg.Headers {
				urlHeaderHosts = append(urlHeaderHosts, host) // names only: values are secrets
			}
			slices.Sort(urlHeaderHosts)
		}
		urls, err := source.NewURLReader(cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			return 2
		}
		defer urls.Close()
		sources.URL = urls
	} else if *urlAllowPrivate || len(*urlAllowAddrs) > 0 || *urlHeadersFile != "" {
		fmt.Fprintln(os.Stderr, "worker: --url-allow-private, --url-allow-addr and --url-headers-file need --allow-url-host")
		return 2
	}
	if sources.Volume == nil && sources.URL == nil {
		fmt.Fprintln(os.Stderr, "worker: set --volume-root (PARTFLOW_VOLUME_ROOT), --allow-url-host (PARTFLOW_ALLOW_URL_HOSTS) or both")
		return 2
	}

	weights, err := cli.ParseWeights(*queues)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker: --queues:", err)
		return 2
	}
	limit, err := humanize.ParseBytes(*bwlimit)
	if err != nil {
		fmt.Fprintf(os.Stderr, "worker: bad --bwlimit %q: %v\n", *bwlimit, err)
		return 2
	}
	budget, err := humanize.ParseBytes(*memoryBudget)
	if err != nil || budget > 1<<50 {
		fmt.Fprintf(os.Stderr, "worker: bad --memory-budget %q: want a size such as 256MiB\n", *memoryBudget)
		return 2
	}
	worker.SetGoMemLimit(log)
	budgetFrom := "--memory-budget"
	if budget == 0 {
		var b int64
		b, budgetFrom = worker.DefaultMemoryBudget(*concurrency)
		budget = uint64(b)
	}
	var locations []tasks.Location
	for _, l := range cli.ParseLocations(*managed) {
		locations = append(locations, tasks.Location{Bucket: l[0], Prefix: l[1]})
	}

	s3cfg := s3opts.config(*endpoint)
	s3cfg.BandwidthLimit, s3cfg.MaxIdleConns = int64(limit), *concurrency
	s3, err := storage.NewMinio(s3cfg)
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

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		metrics.NewQueueCollector(asynq.NewInspectorFromRedisClient(rdb)))
	w, err := worker.New(worker.Config{Redis: rdb, S3: s3, Sources: sources, Logger: log, Concurrency: *concurrency,
		MemoryBudget: int64(budget), ShutdownTimeout: *shutdownTimeout, Retention: *retention, Queues: weights, PartRetries: *partRetries,
		PartTimeout: *partTimeout, JanitorInterval: *janitorInterval, Metrics: metrics.New(reg), HeartbeatInterval: *heartbeat,
		NoRescue: !*rescue,
		Janitor:  tasks.JanitorConfig{StalledAfter: *stalledAfter, OrphanGrace: *orphanGrace, AbandonAfter: *abandonAfter, Managed: locations}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 2
	}

	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "partflow_buffer_bytes",
			Help: "Bytes of part and PUT buffers held now (at most partflow_memory_budget_bytes)."},
			func() float64 { return float64(w.Budget().InUse()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "partflow_memory_budget_bytes",
			Help: "The worker's memory budget (--memory-budget), also the largest part it accepts."},
			func() float64 { return float64(w.Budget().Size()) }))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *metricsAddr != "" {
		srv := &http.Server{Addr: *metricsAddr, ReadHeaderTimeout: 10 * time.Second,
			Handler: worker.NewHTTPHandler(worker.Probes{Redis: rdb, S3: s3, Gatherer: reg})}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("MetricsServerFailed", "addr", *metricsAddr, "error", err)
			}
		}()
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
	}
	log.Info("WorkerStarting", "s3_endpoint", *endpoint, "volume_root", *volumeRoot, "url_hosts", *urlHosts,
		"url_header_hosts", urlHeaderHosts, "concurrency", *concurrency,
		"memory_budget", humanize.IBytes(budget), "memory_budget_from", budgetFrom,
		"shutdown_timeout", shutdownTimeout.String(), "metrics_addr", *metricsAddr)
	if err := w.Run(ctx); err != nil {
		log.Error("WorkerFailed", "error", err)
		return 1
	}
	log.Info("WorkerStopped")
	return 0
}

// listFlag defines a flag that takes a comma list and may be repeated; its default comes from
// the environment variable env (a comma list), which the first use of the flag replaces.
func listFlag(fs *flag.FlagSet, name, env, usage string) *[]string {
	list := splitList(os.Getenv(env))
	fromEnv := true
	fs.Func(name, usage, func(v string) error {
		if fromEnv {
			list, fromEnv = nil, false
		}
		list = append(list, splitList(v)...)
		return nil
	})
	return &list
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
}

// parsePrefixes parses addresses (one address each) and CIDR prefixes.
func parsePrefixes(in []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range in {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an IP address nor a CIDR prefix", s)
		}
		out = append(out, p)
	}
	return out, nil
}
