// Command monitor serves partflow's web monitor: the migration and upload view at /, its JSON
// API under /api/, and the asynqmon dashboard at /monitoring/, behind a token. It needs Redis
// only. SIGTERM (or SIGINT) stops accepting connections, ends open event streams and lets
// running requests finish within --shutdown-timeout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/cli"
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

Flags (each has the environment fallback named in its description):
`

// tokenEnv holds the monitor's token.
const tokenEnv = "PARTFLOW_MONITOR_TOKEN"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr, nil))
}

// run runs the monitor until ctx ends and returns the exit code. ready, when not nil, is
// called with the address the monitor listens on.
func run(ctx context.Context, args []string, stderr *os.File, ready func(addr string)) int {
	fs := flag.NewFlagSet("monitor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	listen := fs.String("listen", cli.Env("PARTFLOW_MONITOR_LISTEN", "127.0.0.1:8080"), "address to serve on (PARTFLOW_MONITOR_LISTEN)")
	redisURL := fs.String("redis-url", cli.Env("PARTFLOW_REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis URL (PARTFLOW_REDIS_URL): redis://, rediss://, redis-sentinel://")
	redisCluster := fs.Bool("redis-cluster", cli.EnvBool("PARTFLOW_REDIS_CLUSTER"), "treat --redis-url as a comma list of cluster seeds (PARTFLOW_REDIS_CLUSTER)")
	readOnly := fs.Bool("read-only", cli.EnvBool("PARTFLOW_MONITOR_READ_ONLY"), "refuse every request but GET and HEAD, in partflow's view and in asynqmon (PARTFLOW_MONITOR_READ_ONLY)")
	noAuth := fs.Bool("no-auth", false, "serve without authentication: for a monitor on loopback on your own machine only (no environment fallback)")
	origins := fs.String("trusted-origins", cli.Env("PARTFLOW_MONITOR_TRUSTED_ORIGINS", ""), "comma list of other origins whose pages may POST actions, e.g. https://ops.example.com behind a proxy that rewrites Host (PARTFLOW_MONITOR_TRUSTED_ORIGINS)")
	shutdownTimeout := fs.Duration("shutdown-timeout", cli.EnvDuration("PARTFLOW_SHUTDOWN_TIMEOUT", 10*time.Second), "how long running requests may finish after SIGTERM (PARTFLOW_SHUTDOWN_TIMEOUT)")
	logFormat := fs.String("log-format", cli.Env("PARTFLOW_LOG_FORMAT", ""), "text or json; default json unless stderr is a terminal (PARTFLOW_LOG_FORMAT)")
	logLevel := fs.String("log-level", cli.Env("PARTFLOW_LOG_LEVEL", "info"), "debug, info, warn or error (PARTFLOW_LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "monitor: unexpected arguments %q\n", fs.Args())
		return 2
	}

	log, err := cli.NewLogger(stderr, "partflow-monitor", *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "monitor:", err)
		return 2
	}
	token := os.Getenv(tokenEnv)
	switch {
	case *noAuth && token != "":
		fmt.Fprintf(stderr, "monitor: --no-auth and %s exclude each other; unset one\n", tokenEnv)
		return 2
	case !*noAuth && token == "":
		fmt.Fprintf(stderr, "monitor: refusing to start without a token: set %s (at least 16 characters), "+
			"or pass --no-auth to serve without authentication on your own machine\n", tokenEnv)
		return 2
	}
	var trusted []string
	for _, o := range strings.Split(*origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			trusted = append(trusted, o)
		}
	}

	rcfg := redisconn.Config{URL: *redisURL, Cluster: *redisCluster}
	probe, err := redisconn.Open(rcfg)
	if err != nil {
		fmt.Fprintln(stderr, "monitor:", err)
		return 2
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = probe.Ping(pingCtx).Err()
	cancel()
	defer probe.Close()
	if err != nil {
		fmt.Fprintf(stderr, "monitor: cannot reach Redis: %v\n", err)
		return 3
	}
	pf, err := client.New(probe, client.Config{})
	if err != nil {
		fmt.Fprintln(stderr, "monitor:", err)
		return 2
	}
	defer pf.Close()

	mon, err := monitor.New(monitor.Config{Redis: redisOpener(rcfg), Token: token, NoAuth: *noAuth, ReadOnly: *readOnly,
		TrustedOrigins: trusted, Logger: log, Actions: actions{pf}})
	if err != nil {
		fmt.Fprintln(stderr, "monitor:", err)
		return 2
	}
	defer mon.Close()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "monitor:", err)
		return 2
	}
	addr := ln.Addr().String()
	if *noAuth {
		what := "change the task queues"
		if *readOnly {
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
		"read_only", *readOnly, "auth", !*noAuth)
	if ready != nil {
		ready(addr)
	}

	select {
	case err := <-served:
		log.Error("MonitorFailed", "error", err)
		return 1
	case <-ctx.Done():
	}
	log.Info("MonitorStopping", "shutdown_timeout", shutdownTimeout.String())
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), *shutdownTimeout)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("MonitorShutdownIncomplete", "error", err)
		_ = srv.Close()
	}
	log.Info("MonitorStopped")
	return 0
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
