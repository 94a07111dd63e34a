package main

import (
	"context"
	"flag"
	"time"

	"github.com/partflow/partflow/client"
)

// reporter is how a command shows what happens: text for people (results on stdout, notes
// and progress on stderr; reporter_text.go), one JSON document with --json
// (reporter_json.go), or a JSON object per line for each change with --json-lines
// (reporter_lines.go). Commands say what happened; the reporter decides what is printed.
// Methods that end a command return its exit code (a runtime error if the output could not
// be written).
type reporter interface {
	// fail reports the error that ends the command (on stderr, and in the output) and
	// returns code.
	fail(code int, msg string) int

	// migrate, in order: planning, then invalid and skipped while the first pass
	// reads the items, planned, then either dryRun, or enqueueProgress while the second pass
	// enqueues, enqueueResult, enqueued and migrationEnqueued (without --wait) or finish.
	planning()
	invalid(err error)
	skipped(path, reason string)
	planned(p planSummary)
	dryRun(p planSummary) int
	enqueueProgress(total int64) func(client.MigrateResult)
	enqueueResult(res client.MigrateResult) // whether or not Migrate failed
	enqueued(res client.MigrateResult)      // only when it did not
	migrationEnqueued(id string) int
	finish(code int) int // after --wait's report

	// put, and status of an upload.
	putEnqueued(id client.UploadID) int      // without --wait: the end
	waiting(id client.UploadID, what string) // put --wait: before following the upload
	uploadProgress() func(client.Upload)
	uploadResult(u client.Upload, took time.Duration, code int) int
	uploadStatus(u client.Upload) int

	// migrations: status, and the end of migrate --wait.
	migrationProgress(knownBytes int64) func(client.Migration)
	// report prints a migration's report with every failed upload and returns code.
	report(ctx context.Context, pf *client.Client, m client.Migration, code int) int
	migrationStatus(ctx context.Context, pf *client.Client, m client.Migration) int

	// list.
	listBegin()
	listed(m client.Migration, now time.Time)
	listEnd(err error) int
}

// planSummary is what migrate's first pass found.
type planSummary struct {
	ID, Source  string
	Plan        client.MigrationPlan
	DryRun      bool
	Filtered    bool  // filters were given
	FilteredOut int64 // items they left out
	Skipped     int64 // directory entries that are not regular files
	Took        time.Duration
	Listing     string // an S3 prefix the fleet lists: nothing was planned here
}

// jsonLinesFlag defines --json-lines on a command whose following flag is follow.
func (c *command) jsonLinesFlag(fs *flag.FlagSet, follow string) *bool {
	return fs.Bool("json-lines", false, "print one JSON object per line on stdout for each change (with "+follow+
		" until the end), instead of text or --json; see the README for the schema")
}

// startReporter picks the command's reporter from --json and --json-lines (refusing both).
func (c *command) startReporter(name string, asJSON, jsonLines bool) int {
	switch {
	case asJSON && jsonLines:
		return c.fail(exitUsage, "%s: give at most one of --json and --json-lines", name)
	case asJSON:
		c.rep = &jsonReporter{text: &textReporter{c: c}}
	case jsonLines:
		c.rep = &linesReporter{text: &textReporter{c: c}, events: newEventWriter(c.stdout)}
	}
	return exitOK
}
