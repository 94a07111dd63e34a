// Command monitor serves partflow's web monitor: the migration and upload view at /, its JSON
// API under /api/, and the asynqmon dashboard at /monitoring/, behind a token. It needs Redis
// only. SIGTERM (or SIGINT) stops accepting connections, ends open event streams and lets
// running requests finish within --shutdown-timeout.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/cli"
	"github.com/partflow/partflow/internal/metrics"
	"github.com/partflow/partflow/internal/monitor"
	"github.com/partflow/partflow/internal/redisconn"
)

const usage = `Usage: monitor [flags]

Serves partflow's monitor: migrations and uploads at /, the JSON API at /api/, asynqmon at
/monitoring/, /healthz and /readyz (without authentication).

Every other path needs the token from PARTFLOW_MONITOR_TOKEN (at least 16 characters), sent as
"Authorization: Bearer TOKEN" or as the password of HTTP basic auth (any user name; a browser
asks for it). The token is read from the environment only, never from a flag, so it does not
show in the process list. Without a token the monitor refuses to start unless --no-auth is
given, which is meant for a monitor on loopback on your own machine.

Every flag but --no-auth has the environment fallback named in its description; a bad value
in a flag or a variable is an error (exit 2) naming it.

Flags:
`

// tokenEnv holds the monitor's token.
const tokenEnv = "PARTFLOW_MONITOR_TOKEN"

func main() {
	_, _ = memlimit.Set(memlimit.WithProvider(memlimit.FromCgroup),
		memlimit.WithLogger(slog.New(slog.DiscardHandler)))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil))
}

// config is the monitor's configuration, from flags and the environment.
type config struct {
	listen          string
	redis           redisconn.Config
	readOnly        bool
	noAuth          bool
	token           string
	origins         []string
	metricsAddr     string
	prometheusURL   string
	shutdownTimeout time.Duration
	log             cli.LogFlags
	traceURL        string // --trace-url-template
}

// parseConfig parses args and the environment. It reports a bad flag or variable on stderr
// and returns the exit code (0 after --help and --version) with ok false.
func parseConfig(args []string, stdout, stderr io.Writer) (cfg config, code int, ok bool) {
	fs := cli.NewFlags("monitor", stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	fs.Version("partflow-monitor", stdout)
	listen := fs.StringEnv("listen", "PARTFLOW_MONITOR_LISTEN", "127.0.0.1:8080", "address to serve on")
	redisFlags := fs.Redis()
	readOnly := fs.BoolEnv("read-only", "PARTFLOW_MONITOR_READ_ONLY", false, "refuse every request but GET and HEAD, in partflow's view and in asynqmon")
	noAuth := fs.Bool("no-auth", false, "serve without authentication: for a monitor on loopback on your own machine only (no environment fallback)")
	origins := fs.ListEnv("trusted-origins", "PARTFLOW_MONITOR_TRUSTED_ORIGINS", "comma list of other origins whose pages may POST actions, e.g. https://ops.example.com behind a proxy that rewrites Host")
	metricsAddr := fs.StringEnv("metrics-addr", "PARTFLOW_METRICS_ADDR", "", "address of /metrics (queue depths of the whole fleet, read once per scrape, and partflow_build_info); empty disables")
	prometheusURL := fs.StringEnv("prometheus-url", "PARTFLOW_PROMETHEUS_URL", "", "Prometheus server whose data asynqmon's metrics tab shows, e.g. http://prometheus:9090; empty hides the tab")
	shutdownTimeout := fs.DurationEnv("shutdown-timeout", "PARTFLOW_SHUTDOWN_TIMEOUT", 10*time.Second, "how long running requests may finish after SIGTERM")
	logFlags := fs.Log()
	traceURLTemplate := fs.StringEnv("trace-url-template", "PARTFLOW_TRACE_URL_TEMPLATE", "",
		"link each traced upload to its trace: a tracing UI's URL with {trace_id}, e.g. https://jaeger.example.com/trace/{trace_id}; empty: no links")
	if err := fs.Parse(args); err != nil {
		return cfg, cli.ExitCode(err), false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "monitor: unexpected arguments %q\n", fs.Args())
		return cfg, 2, false
	}
	if *shutdownTimeout < 0 {
		fmt.Fprintln(stderr, "monitor: --shutdown-timeout (PARTFLOW_SHUTDOWN_TIMEOUT) must not be negative")
		return cfg, 2, false
	}
	if u, err := url.Parse(*prometheusURL); *prometheusURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		fmt.Fprintf(stderr, "monitor: --prometheus-url (PARTFLOW_PROMETHEUS_URL) %q is not an http(s) URL\n", *prometheusURL)
		return cfg, 2, false
	}
	if err := monitor.CheckTraceURLTemplate(*traceURLTemplate); err != nil {
		fmt.Fprintf(stderr, "monitor: --trace-url-template (PARTFLOW_TRACE_URL_TEMPLATE) %q: %v\n", *traceURLTemplate, err)
		return cfg, 2, false
	}
	token := os.Getenv(tokenEnv)
	switch {
	case token != "" && (len(token) < 16 || strings.TrimSpace(token) != token):
		fmt.Fprintf(stderr, "monitor: %s must be at least 16 characters, without white space around it\n", tokenEnv)
		return cfg, 2, false
	case *noAuth && token != "":
		fmt.Fprintf(stderr, "monitor: --no-auth and %s exclude each other; unset one\n", tokenEnv)
		return cfg, 2, false
	case !*noAuth && token == "":
		fmt.Fprintf(stderr, "monitor: refusing to start without a token: set %s (at least 16 characters), "+
			"or pass --no-auth to serve without authentication on your own machine\n", tokenEnv)
		return cfg, 2, false
	}

	for _, o := range *origins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			fmt.Fprintf(stderr, "monitor: --trusted-origins (PARTFLOW_MONITOR_TRUSTED_ORIGINS): %q is not an http(s) origin\n", o)
			return cfg, 2, false
		}
	}
	return config{listen: *listen, redis: redisFlags.Config(), readOnly: *readOnly, noAuth: *noAuth, token: token,
		origins: *origins, metricsAddr: *metricsAddr, prometheusURL: *prometheusURL, shutdownTimeout: *shutdownTimeout,
		log: logFlags, traceURL: *traceURLTemplate}, 0, true
}

// run runs the monitor until ctx ends and returns the exit code. ready, when not nil, is
// called with the address the monitor listens on.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(addr string)) int {
	cfg, code, ok := parseConfig(args, stdout, stderr)
	if !ok {
		return code
	}
	log, err := cfg.log.Logger(stderr, "partflow-monitor")
	if err != nil {
		fmt.Fprintln(stderr, "monitor:", err)
		return 2
	}
	probe, code := cli.OpenRedis(ctx, "monitor", cfg.redis, stderr)
	if code != 0 {
		return code
	}
	defer probe.Close()
	pf, err := client.New(probe, client.Config{})
	if err != nil {
		fmt.Fprintln(stderr, "monitor:", err)
		return 2
	}
	defer pf.Close()

	mon, err := monitor.New(monitor.Config{Redis: redisOpener(cfg.redis), Token: cfg.token, NoAuth: cfg.noAuth, ReadOnly: cfg.readOnly,
		TrustedOrigins: cfg.origins, PrometheusURL: cfg.prometheusURL, Logger: log,
		TraceURLTemplate: cfg.traceURL, Actions: actions{pf}})
	if err != nil {
		fmt.Fprintln(stderr, "monitor:", err)
		return 2
	}
	defer mon.Close()

	if cfg.metricsAddr != "" {
		stopMetrics, err := serveMetrics(ctx, cfg.metricsAddr, probe, log)
		if err != nil {
			fmt.Fprintln(stderr, "monitor: --metrics-addr (PARTFLOW_METRICS_ADDR):", err)
			return 2
		}
		defer stopMetrics()
	}
	return serve(ctx, cfg, mon, log, stderr, ready)
}

// serve serves mon on --listen until ctx ends, then shuts down within --shutdown-timeout.
func serve(ctx context.Context, cfg config, mon *monitor.Monitor, log *slog.Logger, stderr io.Writer, ready func(addr string)) int {
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		fmt.Fprintln(stderr, "monitor: --listen (PARTFLOW_MONITOR_LISTEN):", err)
		return 2
	}
	addr := ln.Addr().String()
	if cfg.noAuth {
		what := "change the task queues"
		if cfg.readOnly {
			what = "read the task queues"
		}
		level := slog.LevelWarn
		if !isLoopback(ln.Addr()) {
			level = slog.LevelError // reachable from other machines
		}
		log.Log(ctx, level, "AuthenticationDisabled", "listen", addr, "loopback", isLoopback(ln.Addr()),
			"warning", fmt.Sprintf("--no-auth: ANYONE WHO CAN REACH %s CAN SEE EVERY UPLOAD AND %s; use it on your own machine only",
				addr, strings.ToUpper(what)))
	}
	srv := &http.Server{
		Handler:           mon,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// No WriteTimeout: event streams stay open; they set their own write deadlines.
	}
	srv.RegisterOnShutdown(mon.StopStreams)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("MonitorStarted", "listen", addr, "url", "http://"+addr+"/", "asynqmon", "http://"+addr+monitor.AsynqmonPath+"/",
		"read_only", cfg.readOnly, "auth", !cfg.noAuth)
	if ready != nil {
		ready(addr)
	}

	select {
	case err := <-served:
		log.Error("MonitorFailed", "error", err)
		return 1
	case <-ctx.Done():
	}
	log.Info("MonitorStopping", "shutdown_timeout", cfg.shutdownTimeout.String())
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.shutdownTimeout)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("MonitorShutdownIncomplete", "error", err)
		_ = srv.Close()
	}
	log.Info("MonitorStopped")
	return 0
}

// serveMetrics serves /metrics on addr: the depth of every asynq queue, read from Redis at
// scrape time (the monitor exports them once for the fleet; workers do not), and
// partflow_build_info. It returns a function that stops the server.
func serveMetrics(ctx context.Context, addr string, rdb redis.UniversalClient, log *slog.Logger) (func(), error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		metrics.NewBuildInfo("monitor"), metrics.NewQueueCollector(asynq.NewInspectorFromRedisClient(rdb)))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("MetricsServerFailed", "addr", addr, "error", err)
		}
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}

func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// redisOpener opens a new client for every asynq.RedisConnOpt caller (the monitor and
// asynqmon each own and close theirs). The URL was checked by opening it once before.
type redisOpener redisconn.Config

func (o redisOpener) MakeRedisClient() any {
	c, err := redisconn.Open(redisconn.Config(o))
	if err != nil {
		return nil
	}
	return c
}

// actions lets the dashboard resume and cancel uploads and migrations through the client API.
type actions struct{ pf *client.Client }

func (a actions) Resume(ctx context.Context, id string) error {
	_, err := a.pf.Resume(ctx, id)
	return err
}

func (a actions) Cancel(ctx context.Context, id string) error {
	_, err := a.pf.Cancel(ctx, id)
	return err
}
