// Command enqueuer hands uploads to partflow and reports on them. It needs only Redis.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/buildinfo"
	"github.com/partflow/partflow/internal/cli"
	"github.com/partflow/partflow/internal/redisconn"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/tracing"
)

// Exit codes.
const (
	exitOK      = 0 // done; with --wait, every upload completed
	exitFailed  = 1 // an upload failed or was cancelled
	exitUsage   = 2 // bad flags or invalid input; nothing was enqueued
	exitRuntime = 3 // Redis unreachable or another runtime error
	exitTimeout = 4 // --wait --timeout: the deadline passed; the migration goes on
	exitPaused  = 5 // --wait: the migration was paused (max-failures, a destination error, pause)
)

const usage = `Usage: enqueuer COMMAND [flags]

Commands:
  put      enqueue one upload:  put --source SRC --bucket B --key K [--part-size SIZE]
                                    [--content-type T] [--volume-root DIR] [--wait]
                                    [--json | --json-lines]
  migrate  enqueue many uploads as one migration:
             migrate --bucket B [--prefix P] (--source DIR | --manifest FILE|-) [--skip-existing]
                     [--skip-invalid] [--dry-run] [--priority low|default|high] [--id ID]
                     [--max-failures N|P%] [--report-to s3://B/K] [--bwlimit RATE]
                     [--wait [--timeout D]] [--json | --json-lines]
           DIR is relative to the volume root (--volume-root); a manifest is JSON Lines:
           {"source":…, "key":…, "bucket"?:…, "content_type"?:…, "metadata"?:{…}}
  status   show an upload or a migration (a migration's report lists every failed upload):
             status ID [--watch] [--json | --json-lines]
  report   every upload of a migration, one row each (not only the failures):
             report ID [--format jsonl|csv] [--state S,...]
  list     list migrations:  list [--state STATE] [--limit N] [--json]
  pause    pause a migration: workers leave its uploads as they are until resume:  pause ID
  resume   resume a failed upload, or every failed upload of a migration:  resume ID
           (re-enqueues only what is missing: parts already in S3 are not sent again);
           a paused migration is un-paused and its unfinished uploads carry on
  cancel   cancel an upload, or every unfinished upload of a migration:  cancel ID
           (aborts the multipart upload in S3 and drops pending tasks)

SRC is a path relative to the workers' volume root (or an http(s) URL).
Every command takes --redis-url (PARTFLOW_REDIS_URL), --redis-cluster (PARTFLOW_REDIS_CLUSTER),
-q (only results and errors) and -v (a progress line per change, the Redis client's log lines);
--otel (PARTFLOW_OTEL) traces each upload's enqueue (see the README's Tracing).
--json-lines prints one JSON object per line on stdout for each change (the README lists them).
Run 'enqueuer COMMAND --help' for a command's flags, 'enqueuer --version' for the build.
A flag's environment variable is read only when the flag is not given; a bad value in either
is an error (exit 2) naming it.

Exit codes: 0 done (with --wait: every upload completed), 1 an upload failed or was cancelled,
2 bad flags or invalid input (nothing enqueued), 3 Redis unreachable or another runtime error,
4 --wait --timeout passed (the migration goes on), 5 --wait found the migration paused.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version" || args[0] == "version") {
		fmt.Fprintln(stdout, "partflow-enqueuer", buildinfo.Read())
		return exitOK
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := command{stdout: stdout, stderr: stderr}
	cmd.rep = &textReporter{c: &cmd}
	switch args[0] {
	case "put":
		return cmd.put(ctx, args[1:])
	case "status":
		return cmd.status(ctx, args[1:])
	case "migrate":
		return cmd.migrate(ctx, args[1:])
	case "list":
		return cmd.list(ctx, args[1:])
	case "resume":
		return cmd.resume(ctx, args[1:])
	case "pause":
		return cmd.pause(ctx, args[1:])
	case "report":
		return cmd.report(ctx, args[1:])
	case "cancel":
		return cmd.cancel(ctx, args[1:])
	}
	fmt.Fprintf(stderr, "enqueuer: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

// command carries what every subcommand shares.
type command struct {
	stdout, stderr io.Writer
	redis          cli.RedisFlags
	otel           *bool
	verbosity      verbosity // -v, -q
	rep            reporter  // text, until a command's --json or --json-lines says otherwise
}

// flags returns a flag set with the shared Redis flags and --version.
func (c *command) flags(name, synopsis string) *cli.Flags {
	fs := cli.NewFlags(name, c.stderr)
	fs.Version("partflow-enqueuer", c.stdout)
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: enqueuer %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	c.redis = fs.Redis()
	c.otel = fs.BoolEnv("otel", "PARTFLOW_OTEL", false,
		"trace each upload's enqueue over OTLP/HTTP; also on when OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (see the README's Tracing)")
	c.verbosity.define(fs.FlagSet)
	return fs
}

// parse parses args and the environment, mapping --help and --version to exit 0 and a bad
// flag or variable to exit 2.
func (c *command) parse(fs *cli.Flags, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		return cli.ExitCode(err), false
	}
	if err := c.verbosity.apply(c.stderr); err != nil {
		return c.fail(exitUsage, "%s: %v", fs.Name(), err), false
	}
	if err := c.tracing().Validate(); err != nil {
		return c.fail(exitUsage, "%s: %v", fs.Name(), err), false
	}
	return 0, true
}

// parseWithID parses the flags of a command that takes one upload or migration ID, given
// before or after the flags.
func (c *command) parseWithID(fs *cli.Flags, name string, args []string) (id string, code int, ok bool) {
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		id, args = args[0], args[1:]
	}
	if code, ok := c.parse(fs, args); !ok {
		return "", code, false
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	} else if fs.NArg() > 0 || id == "" {
		return "", c.fail(exitUsage, "%s: want exactly one upload or migration ID", name), false
	}
	return id, 0, true
}

// connect opens Redis and the partflow client, checking that Redis answers. On error it
// reports it and returns the exit code: exitUsage for a bad --redis-url or tracing variable,
// exitRuntime when Redis does not answer.
func (c *command) connect(ctx context.Context) (*client.Client, func(), int) {
	rdb, err := redisconn.Connect(ctx, c.redis.Config(), 0) // bounded by ctx (a signal) only
	switch {
	case errors.Is(err, redisconn.ErrUnreachable):
		return nil, nil, c.fail(exitRuntime, "%v", err)
	case err != nil:
		return nil, nil, c.fail(exitUsage, "--redis-url (PARTFLOW_REDIS_URL): %v", err)
	}
	tp, err := tracing.New(ctx, c.tracing())
	if err != nil {
		rdb.Close()
		return nil, nil, c.fail(exitUsage, "--otel (PARTFLOW_OTEL, OTEL_*): %v", err)
	}
	if tp != nil {
		rdb.AddHook(tp.RedisHook(state.ScriptNames()))
	}
	pf, err := client.New(rdb, client.Config{Tracing: tp})
	if err != nil {
		rdb.Close()
		return nil, nil, c.fail(exitRuntime, "%v", err)
	}
	return pf, func() {
		pf.Close()
		rdb.Close()
		if err := tp.Close(ctx); err != nil {
			fmt.Fprintln(c.stderr, "enqueuer: traces not flushed:", err)
		}
	}, 0
}

// tracing is the tracing configuration of --otel and the environment.
func (c *command) tracing() tracing.Config {
	return tracing.Config{Enabled: c.otel != nil && *c.otel, ServiceName: "partflow-enqueuer",
		Version: buildinfo.Read().Version, LookupEnv: os.LookupEnv}
}

// fail reports the error that ends the command and returns code.
func (c *command) fail(code int, format string, args ...any) int {
	return c.rep.fail(code, fmt.Sprintf(format, args...))
}
