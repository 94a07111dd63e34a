// Command worker runs partflow's tasks: it pulls upload tasks from Redis, reads byte ranges
// from the shared volume, source URLs or an S3 source store and uploads them to S3. Run as many as you like; they share nothing
// but Redis. SIGTERM stops fetching tasks and lets running ones finish within
// --shutdown-timeout; what is still running then goes back to the queue.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/dustin/go-humanize"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/partflow/partflow/internal/buildinfo"
	"github.com/partflow/partflow/internal/cli"
	"github.com/partflow/partflow/internal/feed"
	"github.com/partflow/partflow/internal/metrics"
	"github.com/partflow/partflow/internal/redisconn"
	"github.com/partflow/partflow/internal/s3source"
	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/tracing"
	"github.com/partflow/partflow/internal/worker"
	"github.com/partflow/partflow/storage"
	"github.com/partflow/partflow/tasks"
)

const usage = `Usage: worker [flags]

Runs partflow's tasks (upload:start, upload:part, upload:finalize, upload:abort and the
periodic maintenance:janitor) and serves /metrics, /healthz and /readyz on --metrics-addr.

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

// config is the worker's command line and environment, parsed and checked.
type config struct {
	redis           redisconn.Config
	s3Endpoint      string
	volumeRoot      string
	url             source.URLConfig
	urlHeadersFile  string
	concurrency     int
	shutdownTimeout time.Duration
	retention       time.Duration
	log             cli.LogFlags
	metricsAddr     string
	queues          map[string]int
	partRetries     int
	partTimeout     time.Duration
	bwlimit         int64
	fleetBwlimit    int64
	memoryBudget    int64 // 0: worker.DefaultMemoryBudget
	janitorInterval time.Duration
	janitor         tasks.JanitorConfig
	feed            tasks.FeedConfig
	s3              s3Flags
	sourceS3        sourceStore
	heartbeat       time.Duration
	rescue          bool
	tracing         tracing.Config
	idlePoll        time.Duration
}

// parseConfig parses args and the environment. It reports a bad flag or variable on stderr
// and returns the exit code (0 after --help and --version) with ok false.
func parseConfig(args []string, stdout, stderr io.Writer) (cfg config, code int, ok bool) {
	fs := cli.NewFlags("worker", stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	fs.Version("partflow-worker", stdout)
	redisFlags := fs.Redis()
	endpoint := fs.StringEnv("s3-endpoint", "PARTFLOW_S3_ENDPOINT", "", "S3 endpoint, http://host:port or https://host:port")
	volumeRoot := fs.StringEnv("volume-root", "PARTFLOW_VOLUME_ROOT", "", "mount point of the shared volume; sources are relative to it; empty: no volume sources")
	urlHosts := fs.ListEnv("allow-url-host", "PARTFLOW_ALLOW_URL_HOSTS",
		"host that URL sources may name: exact host, *.suffix or *; repeat or comma-separate; none: no URL sources")
	urlAllowAddrs := fs.ListEnv("url-allow-addr", "PARTFLOW_URL_ALLOW_ADDRS",
		"address or CIDR that URL sources may connect to even if loopback, private or metadata, e.g. 10.1.2.0/24; repeat or comma-separate")
	urlAllowPrivate := fs.BoolEnv("url-allow-private", "PARTFLOW_URL_ALLOW_PRIVATE", false,
		"let URL sources connect to loopback, private, link-local, CGNAT and unique-local addresses (never metadata)")
	urlHeadersFile := fs.StringEnv("url-headers-file", "PARTFLOW_URL_HEADERS_FILE", "",
		`JSON file of per-host request headers for URL sources, {"host": {"Header": "value"}}`)
	urlTimeout := fs.DurationEnv("url-timeout", "PARTFLOW_URL_TIMEOUT", 30*time.Second,
		"how long a URL source's server may stay silent: to connect and answer, and between body bytes")
	concurrency := fs.IntEnv("concurrency", "PARTFLOW_CONCURRENCY", 8, "tasks run at once, at least 1")
	memoryBudget := fs.SizeEnv("memory-budget", "PARTFLOW_MEMORY_BUDGET", 0,
		"bytes of part buffers held at once, e.g. 256MiB, and the largest part accepted; same on every worker; 0: half the cgroup memory limit, else concurrency × 32MiB")
	shutdownTimeout := fs.DurationEnv("shutdown-timeout", "PARTFLOW_SHUTDOWN_TIMEOUT", 30*time.Second,
		"how long running tasks may finish after SIGTERM; keep it below the pod's terminationGracePeriodSeconds")
	retention := fs.DurationEnv("retention", "PARTFLOW_RETENTION", 7*24*time.Hour, "how long finished records are kept")
	logFlags := fs.Log()
	metricsAddr := fs.StringEnv("metrics-addr", "PARTFLOW_METRICS_ADDR", ":9090", "address of /metrics, /healthz and /readyz; empty disables")
	queues := fs.StringEnv("queues", "PARTFLOW_QUEUES", "high=6,default=3,low=1", "queue weights")
	partRetries := fs.IntEnv("part-retries", "PARTFLOW_PART_RETRIES", 25, "retry budget of the part tasks this worker enqueues; a killed worker's task counts one")
	partTimeout := fs.DurationEnv("part-timeout", "PARTFLOW_PART_TIMEOUT", 0, "time limit of one part attempt; 0 means 5m plus 1s per MiB of the part")
	bwlimit := fs.SizeEnv("bwlimit", "PARTFLOW_BWLIMIT", 0, "cap on bytes per second this worker sends to S3, e.g. 100MiB; 0 means no limit")
	fleetBwlimit := fs.SizeEnv("fleet-bwlimit", "PARTFLOW_FLEET_BWLIMIT", 0,
		"cap on bytes per second the whole fleet sends to S3, shared through Redis (give every worker the same value), e.g. 1GiB; 0 means none")
	janitorInterval := fs.DurationEnv("janitor-interval", "PARTFLOW_JANITOR_INTERVAL", 10*time.Minute, "how often the fleet runs the janitor (once per interval in all); negative disables")
	stalledAfter := fs.DurationEnv("stalled-after", "PARTFLOW_STALLED_AFTER", 24*time.Hour, "the janitor fails uploads without progress (and without queued tasks) for this long, keeping their parts for resume")
	abandonAfter := fs.DurationEnv("abandon-after", "PARTFLOW_ABANDON_AFTER", 7*24*time.Hour, "the janitor aborts the multipart upload (the uploaded parts) of an upload failed and not resumed for this long")
	orphanGrace := fs.DurationEnv("orphan-grace", "PARTFLOW_ORPHAN_GRACE", 24*time.Hour, "the janitor aborts unowned multipart uploads older than this")
	s3opts := defineS3Flags(fs)
	sourceS3 := defineSourceS3Flags(fs)
	heartbeat := fs.DurationEnv("heartbeat-interval", "PARTFLOW_HEARTBEAT_INTERVAL", time.Second,
		"how often this worker tells the fleet which tasks it runs, so a dead worker's tasks run again within seconds")
	rescue := fs.BoolEnv("rescue", "PARTFLOW_RESCUE", true,
		"rerun the tasks of workers that died; false: this worker rescues none (it still heartbeats), and with false on every worker a dead worker's tasks wait for asynq's recovery, 60-120 s")
	otel := fs.BoolEnv("otel", "PARTFLOW_OTEL", false,
		"export traces over OTLP/HTTP; also on when OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (see the README's Tracing)")
	idlePoll := fs.DurationEnv("idle-poll-interval", "PARTFLOW_IDLE_POLL_INTERVAL", 50*time.Millisecond,
		"how long an idle worker waits before looking for tasks again (a task waits up to this long for an idle worker; each look costs Redis 9 commands)")
	feedMemory := fs.StringEnv("feed-max-redis-memory", "PARTFLOW_FEED_MAX_REDIS_MEMORY", "80%",
		"migration feeders wait while Redis used_memory is above this: a share of maxmemory (80%) or a size (4GiB, for a Redis without maxmemory)")
	feedInterval := fs.DurationEnv("feed-interval", "PARTFLOW_FEED_INTERVAL", time.Second, "how often a migration feeder that waits (a full window, Redis memory above its bound) looks again")
	managed := fs.ListEnv("janitor-managed", "PARTFLOW_JANITOR_MANAGED", "comma list of bucket[/prefix] where the janitor aborts orphaned multipart uploads")
	if err := fs.Parse(args); err != nil {
		return cfg, cli.ExitCode(err), false
	}
	fail := func(format string, a ...any) (config, int, bool) {
		fmt.Fprintf(stderr, "worker: "+format+"\n", a...)
		return cfg, 2, false
	}
	if fs.NArg() > 0 {
		return fail("unexpected arguments %q", fs.Args())
	}
	switch {
	case *concurrency < 1:
		return fail("--concurrency (PARTFLOW_CONCURRENCY) must be at least 1, not %d", *concurrency)
	case *shutdownTimeout < 0:
		return fail("--shutdown-timeout (PARTFLOW_SHUTDOWN_TIMEOUT) must not be negative")
	case *retention <= 0:
		return fail("--retention (PARTFLOW_RETENTION) must be positive")
	case *partRetries < 0:
		return fail("--part-retries (PARTFLOW_PART_RETRIES) must not be negative")
	case *partTimeout < 0:
		return fail("--part-timeout (PARTFLOW_PART_TIMEOUT) must not be negative")
	case *urlTimeout <= 0:
		return fail("--url-timeout (PARTFLOW_URL_TIMEOUT) must be positive")
	case *heartbeat <= 0:
		return fail("--heartbeat-interval (PARTFLOW_HEARTBEAT_INTERVAL) must be positive")
	case *idlePoll <= 0:
		return fail("--idle-poll-interval (PARTFLOW_IDLE_POLL_INTERVAL) must be positive")
	case *memoryBudget > 1<<50:
		return fail("--memory-budget (PARTFLOW_MEMORY_BUDGET) %d is not a sensible size", *memoryBudget)
	}
	cfg = config{
		redis:      redisFlags.Config(),
		s3Endpoint: *endpoint, volumeRoot: *volumeRoot, urlHeadersFile: *urlHeadersFile,
		url:         source.URLConfig{AllowHosts: *urlHosts, AllowPrivate: *urlAllowPrivate, Timeout: *urlTimeout},
		concurrency: *concurrency, shutdownTimeout: *shutdownTimeout, retention: *retention,
		log: logFlags, metricsAddr: *metricsAddr,
		partRetries: *partRetries, partTimeout: *partTimeout, bwlimit: *bwlimit, fleetBwlimit: *fleetBwlimit, memoryBudget: *memoryBudget,
		janitorInterval: *janitorInterval, s3: s3opts, heartbeat: *heartbeat, rescue: *rescue, idlePoll: *idlePoll,
		janitor: tasks.JanitorConfig{StalledAfter: *stalledAfter, OrphanGrace: *orphanGrace, AbandonAfter: *abandonAfter},
	}
	cfg.tracing = tracing.Config{Enabled: *otel, ServiceName: "partflow-worker", Version: buildinfo.Read().Version,
		LookupEnv: os.LookupEnv}
	if err := cfg.tracing.Validate(); err != nil {
		return fail("%v", err)
	}
	var err error
	if cfg.url.AllowAddrs, err = parsePrefixes(*urlAllowAddrs); err != nil {
		return fail("--url-allow-addr (PARTFLOW_URL_ALLOW_ADDRS): %v", err)
	}
	if len(*urlHosts) == 0 && (*urlAllowPrivate || len(*urlAllowAddrs) > 0 || *urlHeadersFile != "") {
		return fail("--url-allow-private, --url-allow-addr and --url-headers-file need --allow-url-host")
	}
	if cfg.sourceS3, err = sourceS3.config(s3opts.config(*endpoint)); err != nil {
		return fail("%v", err)
	}
	if *volumeRoot == "" && len(*urlHosts) == 0 && cfg.sourceS3.cfg == nil {
		return fail("set --volume-root (PARTFLOW_VOLUME_ROOT), --allow-url-host (PARTFLOW_ALLOW_URL_HOSTS), " +
			"--source-s3-endpoint (PARTFLOW_SOURCE_S3_ENDPOINT) or several")
	}
	if cfg.feed, err = parseFeedMemory(*feedMemory); err != nil {
		return fail("--feed-max-redis-memory (PARTFLOW_FEED_MAX_REDIS_MEMORY): %v", err)
	}
	if *feedInterval <= 0 {
		return fail("--feed-interval (PARTFLOW_FEED_INTERVAL) must be positive")
	}
	cfg.feed.Interval = *feedInterval
	if cfg.queues, err = cli.ParseWeights(*queues); err != nil {
		return fail("--queues (PARTFLOW_QUEUES): %v", err)
	}
	for _, l := range cli.ParseLocations(*managed...) {
		cfg.janitor.Managed = append(cfg.janitor.Managed, tasks.Location{Bucket: l[0], Prefix: l[1]})
	}
	return cfg, 0, true
}

// run runs the worker until ctx ends and returns the exit code: 0 after a clean stop, 1 when
// it failed, 2 for bad flags, variables or sources, 3 when Redis cannot be reached.
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
	// Listen first, so that a bad address is an error at once, not a log line later.
	var metricsLn net.Listener
	if cfg.metricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", cfg.metricsAddr); err != nil {
			fmt.Fprintln(stderr, "worker: --metrics-addr (PARTFLOW_METRICS_ADDR):", err)
			return 2
		}
		defer metricsLn.Close()
	}
	var sources source.Mux
	listings := feed.Mux{} // the feeds this worker can read: files on the volume, S3 prefixes
	if cfg.volumeRoot != "" {
		volume, err := source.OpenVolume(cfg.volumeRoot)
		if err != nil {
			fmt.Fprintln(stderr, "worker: --volume-root (PARTFLOW_VOLUME_ROOT):", err)
			return 2
		}
		defer volume.Close()
		sources.Volume = volume
		feedRoot, err := os.OpenRoot(cfg.volumeRoot)
		if err != nil {
			fmt.Fprintln(stderr, "worker: --volume-root (PARTFLOW_VOLUME_ROOT):", err)
			return 2
		}
		defer feedRoot.Close()
		listings[feed.KindFile] = feed.Volume{Root: feedRoot}
	}
	var urlHeaderHosts []string
	if len(cfg.url.AllowHosts) > 0 {
		if cfg.urlHeadersFile != "" {
			if cfg.url.Headers, err = source.LoadURLHeaders(cfg.urlHeadersFile); err != nil {
				fmt.Fprintln(stderr, "worker: --url-headers-file (PARTFLOW_URL_HEADERS_FILE):", err)
				return 2
			}
			for host := range cfg.url.Headers {
				urlHeaderHosts = append(urlHeaderHosts, host) // names only: values are secrets
			}
			slices.Sort(urlHeaderHosts)
		}
		urls, err := source.NewURLReader(cfg.url)
		if err != nil {
			fmt.Fprintln(stderr, "worker: URL sources (--allow-url-host, PARTFLOW_ALLOW_URL_HOSTS and the --url-* flags):", err)
			return 2
		}
		defer urls.Close()
		sources.URL = urls
	}

	s3cfg := cfg.s3.config(cfg.s3Endpoint)
	s3cfg.BandwidthLimit, s3cfg.MaxIdleConns = cfg.bwlimit, cfg.concurrency
	s3cfg.WrapTransport = tp.Transport
	s3, err := storage.NewMinio(s3cfg)
	if err != nil {
		fmt.Fprintln(stderr, "worker: S3 (--s3-endpoint or PARTFLOW_S3_ENDPOINT, --s3-bucket-lookup, --s3-ca-bundle, AWS_* credentials, AWS_REGION):", err)
		return 2
	}
	var copier storage.Copier
	if st := cfg.sourceS3; st.cfg != nil {
		scfg := *st.cfg
		scfg.MaxIdleConns = cfg.concurrency
		store, err := storage.NewMinio(scfg)
		if err != nil {
			fmt.Fprintln(stderr, "worker: S3 source store (--source-s3-endpoint or PARTFLOW_SOURCE_S3_ENDPOINT, "+
				"--source-s3-*, PARTFLOW_SOURCE_AWS_* credentials):", err)
			return 2
		}
		defer store.CloseIdleConnections()
		if sources.S3, err = s3source.New(s3source.Config{Store: store, CopyTags: st.copyTags}); err != nil {
			fmt.Fprintln(stderr, "worker:", err)
			return 2
		}
		if st.copy {
			copier = s3 // the destination copies from its own store
		}
		listings[feed.KindS3] = feed.S3{Store: store}
	}
	if len(listings) > 0 {
		cfg.feed.Listings = listings
	}
	budget, budgetFrom := cfg.memoryBudget, "--memory-budget"
	if budget == 0 {
		budget, budgetFrom = worker.DefaultMemoryBudget(cfg.concurrency)
	}
	rdb, code := cli.OpenRedis(ctx, "worker", cfg.redis, stderr)
	if code != 0 {
		return code
	}
	defer rdb.Close()
	if tp != nil {
		rdb.AddHook(tp.RedisHook(state.ScriptNames()))
	}

	// Queue depths are the monitor's to export (once for the fleet), not every worker's.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		metrics.NewBuildInfo("worker"))
	w, err := worker.New(worker.Config{Redis: rdb, S3: s3, Sources: sources, Copier: copier, Logger: log, Concurrency: cfg.concurrency,
		MemoryBudget: budget, ShutdownTimeout: cfg.shutdownTimeout, Retention: cfg.retention, Queues: cfg.queues,
		PartRetries: cfg.partRetries, PartTimeout: cfg.partTimeout, FleetBandwidth: cfg.fleetBwlimit, JanitorInterval: cfg.janitorInterval,
		Metrics: metrics.New(reg), Janitor: cfg.janitor, HeartbeatInterval: cfg.heartbeat, NoRescue: !cfg.rescue,
		Tracing: tp, IdlePollInterval: cfg.idlePoll, Feed: cfg.feed})
	if err != nil {
		fmt.Fprintln(stderr, "worker:", err)
		return 2
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "partflow_buffer_bytes",
			Help: "Bytes of part and PUT buffers held now (at most partflow_memory_budget_bytes)."},
			func() float64 { return float64(w.Budget().InUse()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "partflow_memory_budget_bytes",
			Help: "The worker's memory budget (--memory-budget), also the largest part it accepts."},
			func() float64 { return float64(w.Budget().Size()) }))

	if metricsLn != nil {
		srv := &http.Server{ReadHeaderTimeout: 10 * time.Second,
			Handler: worker.NewHTTPHandler(worker.Probes{Redis: rdb, S3: s3, Gatherer: reg})}
		go func() {
			if err := srv.Serve(metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("MetricsServerFailed", "addr", cfg.metricsAddr, "error", err)
			}
		}()
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
	}
	log.Info("WorkerStarting", "s3_endpoint", cfg.s3Endpoint, "volume_root", cfg.volumeRoot, "url_hosts", cfg.url.AllowHosts,
		"url_header_hosts", urlHeaderHosts, "source_s3_endpoint", sourceEndpoint(cfg.sourceS3),
		"source_s3_copy", copier != nil, "concurrency", cfg.concurrency,
		"memory_budget", humanize.IBytes(uint64(budget)), "memory_budget_from", budgetFrom,
		"shutdown_timeout", cfg.shutdownTimeout.String(), "metrics_addr", cfg.metricsAddr, "tracing", tp != nil)
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

// parseFeedMemory reads --feed-max-redis-memory: "80%" (of maxmemory) or a size.
func parseFeedMemory(v string) (tasks.FeedConfig, error) {
	if pct, ok := strings.CutSuffix(v, "%"); ok {
		f, err := strconv.ParseFloat(pct, 64)
		if err != nil || f <= 0 || f > 100 {
			return tasks.FeedConfig{}, fmt.Errorf("%q: want a share of maxmemory in (0%%, 100%%] or a size", v)
		}
		return tasks.FeedConfig{MaxMemoryFraction: f / 100}, nil
	}
	n, err := humanize.ParseBytes(v)
	if err != nil || n == 0 {
		return tasks.FeedConfig{}, fmt.Errorf("%q: want a share of maxmemory (80%%) or a size (4GiB)", v)
	}
	return tasks.FeedConfig{MaxMemoryBytes: int64(n)}, nil
}
