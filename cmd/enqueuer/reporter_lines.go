package main

import (
	"context"
	"fmt"
	"time"

	"github.com/partflow/partflow/client"
)

// linesReporter prints --json-lines: an event per change on stdout (events.go holds the
// writer and the schema), ending with a "done" or an "error" event. Notes and errors still go
// to stderr as in text; progress bars and text results do not.
type linesReporter struct {
	text   *textReporter
	events *eventWriter
}

// done ends the events with a "done" event and returns code, or a runtime error if the
// events could not be written.
func (r *linesReporter) done(id, state string, code int) int {
	r.events.done(id, state, code)
	if err := r.events.err; err != nil {
		return r.text.fail(exitRuntime, fmt.Sprintf("write events: %v", err))
	}
	return code
}

func (r *linesReporter) fail(code int, msg string) int {
	r.text.fail(code, msg)
	r.events.error(msg, code)
	return code
}

func (r *linesReporter) planning()                   {}
func (r *linesReporter) invalid(err error)           { r.events.invalid(err) }
func (r *linesReporter) skipped(path, reason string) { r.events.skipped(path, reason) }

func (r *linesReporter) planned(p planSummary) {
	r.text.planned(p)
	r.events.planned(p.ID, p.Plan, p.DryRun)
}

func (r *linesReporter) dryRun(p planSummary) int { return r.done(p.ID, "", exitOK) }

func (r *linesReporter) enqueueProgress(int64) func(client.MigrateResult) { return nil }

func (r *linesReporter) enqueueResult(client.MigrateResult) {}

func (r *linesReporter) enqueued(res client.MigrateResult) {
	r.events.enqueuedMigration(res)
	r.text.enqueued(res)
}

func (r *linesReporter) migrationEnqueued(id string) int { return r.done(id, "", exitOK) }

func (r *linesReporter) finish(code int) int { return code }

func (r *linesReporter) putEnqueued(id client.UploadID) int {
	r.events.enqueuedUpload(id)
	return r.done(id.String(), string(client.StatePlanned), exitOK)
}

func (r *linesReporter) waiting(id client.UploadID, _ string) { r.events.enqueuedUpload(id) }

func (r *linesReporter) uploadProgress() func(client.Upload) { return r.events.upload }

func (r *linesReporter) uploadResult(u client.Upload, _ time.Duration, code int) int {
	return r.done(u.ID.String(), string(u.State), code)
}

func (r *linesReporter) uploadStatus(u client.Upload) int {
	r.events.upload(u)
	return r.done(u.ID.String(), string(u.State), exitOK)
}

func (r *linesReporter) migrationProgress(int64) func(client.Migration) { return r.events.migration }

// report ends the events of a migration: one per failed upload, then done with code.
func (r *linesReporter) report(ctx context.Context, pf *client.Client, m client.Migration, code int) int {
	for f, err := range pf.Failures(ctx, m.ID) {
		if err != nil {
			return r.fail(exitRuntime, fmt.Sprintf("status: listing failed uploads: %v", err))
		}
		r.events.failed(f)
	}
	return r.done(m.ID, client.MigrationState(m), code)
}

// migrationStatus: the migration, then its failures (reported as in text, not an error).
func (r *linesReporter) migrationStatus(ctx context.Context, pf *client.Client, m client.Migration) int {
	r.events.migration(m)
	return r.report(ctx, pf, m, exitOK)
}

// list has no --json-lines: it prints text.
func (r *linesReporter) listBegin()                               { r.text.listBegin() }
func (r *linesReporter) listed(m client.Migration, now time.Time) { r.text.listed(m, now) }
func (r *linesReporter) listEnd(err error) int                    { return r.text.listEnd(err) }
