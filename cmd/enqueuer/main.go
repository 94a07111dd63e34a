// Command enqueuer hands uploads to partflow and reports on them. It needs only Redis.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/buildinfo"
	"github.com/partflow/partflow/internal/cli"
	"github.com/partflow/partflow/internal/redisconn"
)

// Exit codes.
const (
	exitOK      = 0 // done; with --wait, every upload completed
	exitFailed  = 1 // an upload failed or was cancelled
	exitUsage   = 2 // bad flags or invalid input; nothing was enqueued
	exitRuntime = 3 // Redis unreachable or another runtime error
)

const usage = `Usage: enqueuer COMMAND [flags]

Commands:
  put      enqueue one upload:  put --source SRC --bucket B --key K [--part-size SIZE]
                                    [--content-type T] [--volume-root DIR] [--wait]
                                    [--json | --json-lines]
  migrate  enqueue many uploads as one migration:
             migrate --bucket B [--prefix P] (--source DIR | --manifest FILE|-) [--skip-existing]
                     [--skip-invalid] [--dry-run] [--priority low|default|high] [--id ID]
                     [--wait] [--json | --json-lines]
           DIR is relative to the volume root (--volume-root); a manifest is JSON Lines:
           {"source":…, "key":…, "bucket"?:…, "content_type"?:…, "metadata"?:{…}}
  status   show an upload or a migration (a migration's report lists every failed upload):
             status ID [--watch] [--json | --json-lines]
  list     list migrations:  list [--state STATE] [--limit N] [--json]
  resume   resume a failed upload, or every failed upload of a migration:  resume ID
           (re-enqueues only what is missing: parts already in S3 are not sent again)
  cancel   cancel an upload, or every unfinished upload of a migration:  cancel ID
           (aborts the multipart upload in S3 and drops pending tasks)

SRC is a path relative to the workers' volume root (or an http(s) URL).
Every command takes --redis-url (PARTFLOW_REDIS_URL), --redis-cluster (PARTFLOW_REDIS_CLUSTER),
-q (only results and errors) and -v (a progress line per change, the Redis client's log lines).
--json-lines prints one JSON object per line on stdout for each change (the README lists them).
Run 'enqueuer COMMAND --help' for a command's flags, 'enqueuer --version' for the build.
A flag's environment variable is read only when the flag is not given; a bad value in either
is an error (exit 2) naming it.

Exit codes: 0 done (with --wait: every upload completed), 1 an upload failed or was cancelled,
2 bad flags or invalid input (nothing enqueued), 3 Redis unreachable or another runtime error.
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
	case "cancel":
		return cmd.cancel(ctx, args[1:])
	}
	fmt.Fprintf(stderr, "enqueuer: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

// command carries what every subcommand shares.
type command struct {
	stdout, stderr io.Writer
	redisURL       *string
	redisCluster   *bool
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
	c.redisURL = fs.StringEnv("redis-url", "PARTFLOW_REDIS_URL", "redis://127.0.0.1:6379/0",
		"Redis URL: redis://, rediss://, redis-sentinel://")
	c.redisCluster = fs.BoolEnv("redis-cluster", "PARTFLOW_REDIS_CLUSTER", false,
		"treat --redis-url as a comma list of cluster seeds")
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

// connect opens Redis and the partflow client, checking that Redis answers.
func (c *command) connect(ctx context.Context) (*client.Client, func(), error) {
	rdb, err := redisconn.Open(redisconn.Config{URL: *c.redisURL, Cluster: *c.redisCluster})
	if err != nil {
		return nil, nil, err
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, nil, fmt.Errorf("cannot reach Redis: %w", err)
	}
	pf, err := client.New(rdb, client.Config{})
	if err != nil {
		rdb.Close()
		return nil, nil, err
	}
	return pf, func() { pf.Close(); rdb.Close() }, nil
}

// fail reports the error that ends the command and returns code.
func (c *command) fail(code int, format string, args ...any) int {
	return c.rep.fail(code, fmt.Sprintf(format, args...))
}
