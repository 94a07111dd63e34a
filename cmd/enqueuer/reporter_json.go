package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/partflow/partflow/client"
)

// keptSkips is how many skipped directory entries a JSON document lists (all are counted).
const keptSkips = 1000

// jsonReporter prints one JSON document on stdout (--json). migrate's document is streamed
// (jsonStream): its invalid items, plan, enqueue result and report, with an "error" field if
// the command failed, so millions of invalid items or failed uploads are never held in
// memory. Notes and progress are not printed; errors still go to stderr.
type jsonReporter struct {
	text      *textReporter // for stderr
	doc       *jsonStream   // migrate's and list's document, while open
	inInvalid bool          // the doc's "invalid" array is open
	skips     []map[string]string
}

// open reports whether a streamed document is being written.
func (r *jsonReporter) open() bool { return r.doc != nil && len(r.doc.count) > 0 }

func (r *jsonReporter) fail(code int, msg string) int {
	if r.open() {
		r.endInvalid()
		r.doc.value("error", msg)
		r.doc.closeAll()
	}
	return r.text.fail(code, msg)
}

// printJSON prints v as the whole document.
func (r *jsonReporter) printJSON(v any) int {
	enc := json.NewEncoder(r.text.c.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return r.text.fail(exitRuntime, fmt.Sprintf("write JSON: %v", err))
	}
	return exitOK
}

// closeDoc closes the streamed document and returns code, or a runtime error if it could not
// be written.
func (r *jsonReporter) closeDoc(code int) int {
	r.doc.closeAll()
	if r.doc.err != nil {
		return r.text.fail(exitRuntime, fmt.Sprintf("write JSON: %v", r.doc.err))
	}
	return code
}

func (r *jsonReporter) planning() {
	r.doc = newJSONStream(r.text.c.stdout)
	r.doc.begin("", '{')
	r.doc.begin("invalid", '[')
	r.inInvalid = true
}

func (r *jsonReporter) endInvalid() {
	if r.inInvalid {
		r.doc.end()
		r.inInvalid = false
	}
}

func (r *jsonReporter) invalid(err error) {
	var ie *client.ItemError
	if errors.As(err, &ie) {
		r.doc.value("", map[string]string{"where": ie.Where, "error": ie.Err.Error()})
	} else {
		r.doc.value("", map[string]string{"error": err.Error()})
	}
}

func (r *jsonReporter) skipped(path, reason string) {
	if len(r.skips) < keptSkips {
		r.skips = append(r.skips, map[string]string{"path": path, "reason": reason})
	}
}

func (r *jsonReporter) planned(p planSummary) {
	r.endInvalid()
	r.doc.value("migration_id", p.ID)
	r.doc.value("source", p.Source)
	r.doc.value("dry_run", p.DryRun)
	if p.Listing != "" {
		r.doc.value("listing", p.Listing)
		return
	}
	plan := p.Plan
	if !p.DryRun {
		plan.FirstKeys = nil
	}
	r.doc.value("plan", plan)
	if p.Filtered {
		r.doc.value("filtered_out", p.FilteredOut)
	}
	if p.Skipped > 0 {
		r.doc.value("skipped_entries_total", p.Skipped)
		r.doc.value("skipped_entries", r.skips)
	}
}

func (r *jsonReporter) dryRun(planSummary) int { return r.closeDoc(exitOK) }

func (r *jsonReporter) enqueueProgress(int64) func(client.MigrateResult) { return nil }

// enqueueJSON is the "enqueue" part of migrate's JSON document.
type enqueueJSON struct {
	client.MigrateResult
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"items_per_second"`
}

func (r *jsonReporter) enqueueResult(res client.MigrateResult) {
	r.doc.value("enqueue", enqueueJSON{MigrateResult: res, Seconds: res.Duration.Seconds(), PerSecond: res.Rate()})
}

func (r *jsonReporter) enqueued(client.MigrateResult) {}

func (r *jsonReporter) migrationEnqueued(string) int { return r.closeDoc(exitOK) }

func (r *jsonReporter) finish(code int) int { return r.closeDoc(code) }

func (r *jsonReporter) putEnqueued(id client.UploadID) int {
	return r.printJSON(map[string]string{"upload_id": id.String(), "migration_id": id.Migration})
}

func (r *jsonReporter) waiting(client.UploadID, string) {}

func (r *jsonReporter) uploadProgress() func(client.Upload) { return nil }

func (r *jsonReporter) uploadResult(u client.Upload, _ time.Duration, code int) int {
	if wcode := r.printJSON(client.StatusOf(u)); wcode != exitOK {
		return wcode
	}
	return code
}

func (r *jsonReporter) uploadStatus(u client.Upload) int { return r.printJSON(client.StatusOf(u)) }

func (r *jsonReporter) migrationProgress(int64) func(client.Migration) { return nil }

// reportJSON is a migration's report without its failures, which follow it streamed.
type reportJSON struct {
	client.MigrationReport
	Failures []client.FailedUpload `json:"failures,omitempty"` // hides the report's own
}

// report prints the report as the "report" field of migrate's document, or as its own
// document; its failures are streamed page by page.
func (r *jsonReporter) report(ctx context.Context, pf *client.Client, m client.Migration, code int) int {
	own := !r.open()
	js, name := r.doc, "report"
	if own {
		js, name = newJSONStream(r.text.c.stdout), ""
	}
	js.beginWith(name, reportJSON{MigrationReport: client.ReportOf(m, time.Now())})
	js.begin("failures", '[')
	var err error
	for f, ferr := range pf.Failures(ctx, m.ID) {
		if ferr != nil {
			err = ferr
			break
		}
		js.value("", f)
	}
	js.end()
	if err != nil {
		js.value("error", fmt.Sprintf("listing failed uploads: %v", err))
	}
	if own {
		js.closeAll()
	}
	if js.err != nil {
		return r.text.fail(exitRuntime, fmt.Sprintf("write JSON: %v", js.err))
	}
	if err != nil {
		return r.text.fail(exitRuntime, fmt.Sprintf("status: listing failed uploads: %v", err))
	}
	return code
}

func (r *jsonReporter) migrationStatus(ctx context.Context, pf *client.Client, m client.Migration) int {
	return statusCode(r.report(ctx, pf, m, migrationCode(m)))
}

func (r *jsonReporter) listBegin() {
	r.doc = newJSONStream(r.text.c.stdout)
	r.doc.begin("", '[')
}

func (r *jsonReporter) listed(m client.Migration, now time.Time) {
	r.doc.value("", reportJSON{MigrationReport: client.ReportOf(m, now)})
}

func (r *jsonReporter) listEnd(err error) int {
	r.doc.end()
	if err != nil {
		return r.text.fail(exitRuntime, fmt.Sprintf("list: %v", err))
	}
	return r.closeDoc(exitOK)
}
