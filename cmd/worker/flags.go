package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/partflow/partflow/internal/buildinfo"
	"github.com/partflow/partflow/internal/cli"
	"github.com/partflow/partflow/internal/redisconn"
	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/tracing"
	"github.com/partflow/partflow/tasks"
)

// config is the worker's command line and environment, parsed and checked.
type config struct {
	redis           redisconn.Config
	log             cli.LogFlags
	tracing         tracing.Config
	metricsAddr     string
	s3Endpoint      string
	s3              s3Flags
	volumeRoot      string
	url             source.URLConfig
	urlHeadersFile  string
	sourceS3        sourceStore
	run             runConfig
	janitorInterval time.Duration
	janitor         tasks.JanitorConfig
	feed            tasks.FeedConfig
}

// runConfig is how this worker runs tasks.
type runConfig struct {
	concurrency     int
	memoryBudget    int64 // 0: worker.DefaultMemoryBudget
	shutdownTimeout time.Duration
	retention       time.Duration
	queues          map[string]int
	partRetries     int
	partTimeout     time.Duration
	bwlimit         int64
	fleetBwlimit    int64
	heartbeat       time.Duration
	rescue          bool
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
	sources := defineSourceFlags(fs)
	runFlags := defineRunFlags(fs)
	logFlags := fs.Log()
	metricsAddr := fs.StringEnv("metrics-addr", "PARTFLOW_METRICS_ADDR", ":9090", "address of /metrics, /healthz and /readyz; empty disables")
	janitor := defineJanitorFlags(fs)
	s3opts := defineS3Flags(fs)
	sourceS3 := defineSourceS3Flags(fs)
	otel := fs.BoolEnv("otel", "PARTFLOW_OTEL", false,
		"export traces over OTLP/HTTP; also on when OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (see the README's Tracing)")
	feedFlags := defineFeedFlags(fs)
	if err := fs.Parse(args); err != nil {
		return cfg, cli.ExitCode(err), false
	}
	cfg = config{redis: redisFlags.Config(), log: logFlags, metricsAddr: *metricsAddr, s3Endpoint: *endpoint, s3: s3opts,
		tracing: tracing.Config{Enabled: *otel, ServiceName: "partflow-worker", Version: buildinfo.Read().Version, LookupEnv: os.LookupEnv}}
	err := func() (err error) {
		if fs.NArg() > 0 {
			return fmt.Errorf("unexpected arguments %q", fs.Args())
		}
		if cfg.run, err = runFlags.config(); err != nil {
			return err
		}
		if err = cfg.tracing.Validate(); err != nil {
			return err
		}
		if err = sources.config(&cfg); err != nil {
			return err
		}
		if cfg.sourceS3, err = sourceS3.config(s3opts.config(*endpoint)); err != nil {
			return err
		}
		if cfg.volumeRoot == "" && len(cfg.url.AllowHosts) == 0 && cfg.sourceS3.cfg == nil {
			return errors.New("set --volume-root (PARTFLOW_VOLUME_ROOT), --allow-url-host (PARTFLOW_ALLOW_URL_HOSTS), " +
				"--source-s3-endpoint (PARTFLOW_SOURCE_S3_ENDPOINT) or several")
		}
		if cfg.feed, err = feedFlags.config(); err != nil {
			return err
		}
		cfg.janitorInterval, cfg.janitor = janitor.config()
		return nil
	}()
	if err != nil {
		fmt.Fprintf(stderr, "worker: %v\n", err)
		return cfg, 2, false
	}
	return cfg, 0, true
}

// sourceFlags say where sources are read: the volume and URLs (the S3 source store has its own).
type sourceFlags struct {
	volumeRoot, urlHeadersFile *string
	urlHosts, urlAllowAddrs    *[]string
	urlAllowPrivate            *bool
	urlTimeout                 *time.Duration
}

func defineSourceFlags(fs *cli.Flags) sourceFlags {
	return sourceFlags{
		volumeRoot: fs.StringEnv("volume-root", "PARTFLOW_VOLUME_ROOT", "", "mount point of the shared volume; sources are relative to it; empty: no volume sources"),
		urlHosts: fs.ListEnv("allow-url-host", "PARTFLOW_ALLOW_URL_HOSTS",
			"host that URL sources may name: exact host, *.suffix or *; repeat or comma-separate; none: no URL sources"),
		urlAllowAddrs: fs.ListEnv("url-allow-addr", "PARTFLOW_URL_ALLOW_ADDRS",
			"address or CIDR that URL sources may connect to even if loopback, private or metadata, e.g. 10.1.2.0/24; repeat or comma-separate"),
		urlAllowPrivate: fs.BoolEnv("url-allow-private", "PARTFLOW_URL_ALLOW_PRIVATE", false,
			"let URL sources connect to loopback, private, link-local, CGNAT and unique-local addresses (never metadata)"),
		urlHeadersFile: fs.StringEnv("url-headers-file", "PARTFLOW_URL_HEADERS_FILE", "",
			`JSON file of per-host request headers for URL sources, {"host": {"Header": "value"}}`),
		urlTimeout: fs.DurationEnv("url-timeout", "PARTFLOW_URL_TIMEOUT", 30*time.Second,
			"how long a URL source's server may stay silent: to connect and answer, and between body bytes"),
	}
}

// config checks the volume and URL flags and sets them on cfg.
func (f sourceFlags) config(cfg *config) error {
	if *f.urlTimeout <= 0 {
		return errors.New("--url-timeout (PARTFLOW_URL_TIMEOUT) must be positive")
	}
	allowAddrs, err := parsePrefixes(*f.urlAllowAddrs)
	if err != nil {
		return fmt.Errorf("--url-allow-addr (PARTFLOW_URL_ALLOW_ADDRS): %w", err)
	}
	if len(*f.urlHosts) == 0 && (*f.urlAllowPrivate || len(*f.urlAllowAddrs) > 0 || *f.urlHeadersFile != "") {
		return errors.New("--url-allow-private, --url-allow-addr and --url-headers-file need --allow-url-host")
	}
	cfg.volumeRoot, cfg.urlHeadersFile = *f.volumeRoot, *f.urlHeadersFile
	cfg.url = source.URLConfig{AllowHosts: *f.urlHosts, AllowAddrs: allowAddrs, AllowPrivate: *f.urlAllowPrivate, Timeout: *f.urlTimeout}
	return nil
}

// runFlags say how this worker runs tasks.
type runFlags struct {
	concurrency, partRetries                                     *int
	memoryBudget, bwlimit, fleetBwlimit                          *int64
	shutdownTimeout, retention, partTimeout, heartbeat, idlePoll *time.Duration
	queues                                                       *string
	rescue                                                       *bool
}

func defineRunFlags(fs *cli.Flags) runFlags {
	return runFlags{
		concurrency: fs.IntEnv("concurrency", "PARTFLOW_CONCURRENCY", 8, "tasks run at once, at least 1"),
		memoryBudget: fs.SizeEnv("memory-budget", "PARTFLOW_MEMORY_BUDGET", 0,
			"bytes of part buffers held at once, e.g. 256MiB, and the largest part accepted; same on every worker; 0: half the cgroup memory limit, else concurrency × 32MiB"),
		shutdownTimeout: fs.DurationEnv("shutdown-timeout", "PARTFLOW_SHUTDOWN_TIMEOUT", 30*time.Second,
			"how long running tasks may finish after SIGTERM; keep it below the pod's terminationGracePeriodSeconds"),
		retention:   fs.DurationEnv("retention", "PARTFLOW_RETENTION", 7*24*time.Hour, "how long finished records are kept"),
		queues:      fs.StringEnv("queues", "PARTFLOW_QUEUES", "high=6,default=3,low=1", "queue weights"),
		partRetries: fs.IntEnv("part-retries", "PARTFLOW_PART_RETRIES", 25, "retry budget of the part tasks this worker enqueues; a killed worker's task counts one"),
		partTimeout: fs.DurationEnv("part-timeout", "PARTFLOW_PART_TIMEOUT", 0, "time limit of one part attempt; 0 means 5m plus 1s per MiB of the part"),
		bwlimit:     fs.SizeEnv("bwlimit", "PARTFLOW_BWLIMIT", 0, "cap on bytes per second this worker sends to S3, e.g. 100MiB; 0 means no limit"),
		fleetBwlimit: fs.SizeEnv("fleet-bwlimit", "PARTFLOW_FLEET_BWLIMIT", 0,
			"cap on bytes per second the whole fleet sends to S3, shared through Redis (give every worker the same value), e.g. 1GiB; 0 means none"),
		heartbeat: fs.DurationEnv("heartbeat-interval", "PARTFLOW_HEARTBEAT_INTERVAL", time.Second,
			"how often this worker tells the fleet which tasks it runs, so a dead worker's tasks run again within seconds"),
		rescue: fs.BoolEnv("rescue", "PARTFLOW_RESCUE", true,
			"rerun the tasks of workers that died; false: this worker rescues none (it still heartbeats), and with false on every worker a dead worker's tasks wait for asynq's recovery, 60-120 s"),
		idlePoll: fs.DurationEnv("idle-poll-interval", "PARTFLOW_IDLE_POLL_INTERVAL", 50*time.Millisecond,
			"how long an idle worker waits before looking for tasks again (a task waits up to this long for an idle worker; each look costs Redis 9 commands)"),
	}
}

func (f runFlags) config() (runConfig, error) {
	switch {
	case *f.concurrency < 1:
		return runConfig{}, fmt.Errorf("--concurrency (PARTFLOW_CONCURRENCY) must be at least 1, not %d", *f.concurrency)
	case *f.shutdownTimeout < 0:
		return runConfig{}, errors.New("--shutdown-timeout (PARTFLOW_SHUTDOWN_TIMEOUT) must not be negative")
	case *f.retention <= 0:
		return runConfig{}, errors.New("--retention (PARTFLOW_RETENTION) must be positive")
	case *f.partRetries < 0:
		return runConfig{}, errors.New("--part-retries (PARTFLOW_PART_RETRIES) must not be negative")
	case *f.partTimeout < 0:
		return runConfig{}, errors.New("--part-timeout (PARTFLOW_PART_TIMEOUT) must not be negative")
	case *f.heartbeat <= 0:
		return runConfig{}, errors.New("--heartbeat-interval (PARTFLOW_HEARTBEAT_INTERVAL) must be positive")
	case *f.idlePoll <= 0:
		return runConfig{}, errors.New("--idle-poll-interval (PARTFLOW_IDLE_POLL_INTERVAL) must be positive")
	case *f.memoryBudget > 1<<50:
		return runConfig{}, fmt.Errorf("--memory-budget (PARTFLOW_MEMORY_BUDGET) %d is not a sensible size", *f.memoryBudget)
	}
	queues, err := cli.ParseWeights(*f.queues)
	if err != nil {
		return runConfig{}, fmt.Errorf("--queues (PARTFLOW_QUEUES): %w", err)
	}
	return runConfig{concurrency: *f.concurrency, memoryBudget: *f.memoryBudget, shutdownTimeout: *f.shutdownTimeout,
		retention: *f.retention, queues: queues, partRetries: *f.partRetries, partTimeout: *f.partTimeout,
		bwlimit: *f.bwlimit, fleetBwlimit: *f.fleetBwlimit, heartbeat: *f.heartbeat, rescue: *f.rescue, idlePoll: *f.idlePoll}, nil
}

// janitorFlags say how the fleet's janitor cleans up.
type janitorFlags struct {
	interval, stalledAfter, abandonAfter, orphanGrace *time.Duration
	managed                                           *[]string
}

func defineJanitorFlags(fs *cli.Flags) janitorFlags {
	return janitorFlags{
		interval:     fs.DurationEnv("janitor-interval", "PARTFLOW_JANITOR_INTERVAL", 10*time.Minute, "how often the fleet runs the janitor (once per interval in all); negative disables"),
		stalledAfter: fs.DurationEnv("stalled-after", "PARTFLOW_STALLED_AFTER", 24*time.Hour, "the janitor fails uploads without progress (and without queued tasks) for this long, keeping their parts for resume"),
		abandonAfter: fs.DurationEnv("abandon-after", "PARTFLOW_ABANDON_AFTER", 7*24*time.Hour, "the janitor aborts the multipart upload (the uploaded parts) of an upload failed and not resumed for this long"),
		orphanGrace:  fs.DurationEnv("orphan-grace", "PARTFLOW_ORPHAN_GRACE", 24*time.Hour, "the janitor aborts unowned multipart uploads older than this"),
		managed:      fs.ListEnv("janitor-managed", "PARTFLOW_JANITOR_MANAGED", "comma list of bucket[/prefix] where the janitor aborts orphaned multipart uploads"),
	}
}

func (f janitorFlags) config() (time.Duration, tasks.JanitorConfig) {
	cfg := tasks.JanitorConfig{StalledAfter: *f.stalledAfter, OrphanGrace: *f.orphanGrace, AbandonAfter: *f.abandonAfter}
	for _, l := range cli.ParseLocations(*f.managed...) {
		cfg.Managed = append(cfg.Managed, tasks.Location{Bucket: l[0], Prefix: l[1]})
	}
	return *f.interval, cfg
}

// feedFlags say how migration feeders pace themselves.
type feedFlags struct {
	memory   *string
	interval *time.Duration
}

func defineFeedFlags(fs *cli.Flags) feedFlags {
	return feedFlags{
		memory: fs.StringEnv("feed-max-redis-memory", "PARTFLOW_FEED_MAX_REDIS_MEMORY", "80%",
			"migration feeders wait while Redis used_memory is above this: a share of maxmemory (80%) or a size (4GiB, for a Redis without maxmemory)"),
		interval: fs.DurationEnv("feed-interval", "PARTFLOW_FEED_INTERVAL", time.Second, "how often a migration feeder that waits (a full window, Redis memory above its bound) looks again"),
	}
}

func (f feedFlags) config() (tasks.FeedConfig, error) {
	cfg, err := parseFeedMemory(*f.memory)
	if err != nil {
		return cfg, fmt.Errorf("--feed-max-redis-memory (PARTFLOW_FEED_MAX_REDIS_MEMORY): %w", err)
	}
	if *f.interval <= 0 {
		return cfg, errors.New("--feed-interval (PARTFLOW_FEED_INTERVAL) must be positive")
	}
	cfg.Interval = *f.interval
	return cfg, nil
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
