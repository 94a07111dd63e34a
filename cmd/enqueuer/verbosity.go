package main

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"time"
)

// verbosity holds -v and -q, which every command takes. They change only what goes to
// stderr besides errors (notes, progress); results on stdout stay the same.
type verbosity struct {
	quiet, verbose bool
}

func (v *verbosity) define(fs *flag.FlagSet) {
	fs.BoolVar(&v.quiet, "q", false, "quiet: no progress and no notes on stderr, only errors (results still go to stdout)")
	fs.BoolVar(&v.verbose, "v", false, "verbose: a progress line for every change (not every 5s) and the Redis client's own log lines")
}

// apply checks the pair and, with -v, lets the Redis client's debug lines through (see
// internal/redisconn) to stderr.
func (v *verbosity) apply(stderr io.Writer) error {
	if v.quiet && v.verbose {
		return errors.New("-q and -v exclude each other")
	}
	if v.verbose {
		slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}
	return nil
}

// notes is where informational lines go: stderr, or nowhere with -q.
func (c *command) notes() io.Writer {
	if c.verbosity.quiet {
		return io.Discard
	}
	return c.stderr
}

// plainEvery is how often progress is printed as a plain line when stderr is not a terminal:
// every change with -v.
func (c *command) plainEvery() time.Duration {
	if c.verbosity.verbose {
		return 0
	}
	return plainInterval
}
