package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/schollz/progressbar/v3"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/cli"
	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/state"
)

// plainInterval is how often progress is printed as a plain line when stderr is not a terminal.
const plainInterval = 5 * time.Second

// showMigration is `status MIGRATION [--watch]`: the migration's report, after following it to
// its end with --watch. With --watch it exits 0 only if every upload completed.
func (c *command) showMigration(ctx context.Context, pf *client.Client, id string, watch, asJSON bool) int {
	m, err := pf.Migration(ctx, id)
	if errors.Is(err, client.ErrNotFound) {
		return c.fail(exitFailed, "status: no migration %s (unknown, or expired after its retention period)", id)
	}
	if err != nil {
		return c.fail(exitRuntime, "status: %v", err)
	}
	if !watch {
		if c.events != nil {
			c.events.migration(m)
			return c.failureEvents(ctx, pf, m, exitOK) // as in text: failures are reported, not an error
		}
		if code := c.printReport(ctx, pf, m, asJSON, nil); code != exitFailed {
			return code
		}
		return exitOK // without --watch, failed uploads are reported, not an error of status
	}
	return c.finishMigration(ctx, pf, id, 0, asJSON, nil)
}

// finishMigration follows a migration until it is finished, then prints its report (inside
// js when given) and returns the exit code: 0 only if every upload completed.
func (c *command) finishMigration(ctx context.Context, pf *client.Client, id string, knownBytes int64, asJSON bool, js *jsonStream) int {
	m, err := pf.WaitMigration(ctx, id, c.migrationProgress(asJSON, knownBytes))
	if err != nil {
		msg := fmt.Sprintf("waiting for migration %s: %v (it goes on; follow it with 'enqueuer status %s --watch')", id, err, id)
		if js != nil {
			js.value("error", msg)
			js.closeAll()
		}
		return c.fail(exitRuntime, "%s", msg)
	}
	return c.printReport(ctx, pf, m, asJSON, js)
}

// migrationProgress returns the callback that shows a migration's progress on stderr: a bar
// of bytes (objects in its description) on a terminal, a plain line every plainInterval
// otherwise, nothing with --json.
func (c *command) migrationProgress(asJSON bool, knownBytes int64) func(state.Migration) {
	if c.events != nil {
		return c.events.migration
	}
	if asJSON || c.verbosity.quiet {
		return nil
	}
	objects := func(m state.Migration) string {
		s := fmt.Sprintf("%d/%d objects", m.Completed+m.Failed+m.Cancelled, m.Total)
		if m.Failed > 0 {
			s += fmt.Sprintf(", %d failed", m.Failed)
		}
		if m.Skipped > 0 {
			s += fmt.Sprintf(", %d skipped", m.Skipped)
		}
		return s
	}
	if f, ok := c.stderr.(*os.File); ok && cli.IsTerminal(f) {
		var bar *progressbar.ProgressBar
		return func(m state.Migration) {
			total := max(m.BytesTotal, knownBytes, m.BytesDone, 1)
			if bar == nil {
				bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(f), progressbar.OptionShowBytes(true),
					progressbar.OptionSetPredictTime(true), progressbar.OptionShowElapsedTimeOnFinish(),
					progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionFullWidth(),
					progressbar.OptionOnCompletion(func() { fmt.Fprintln(f) }))
			}
			if total != bar.GetMax64() {
				bar.ChangeMax64(total)
			}
			bar.Describe(objects(m))
			_ = bar.Set64(m.BytesDone)
			if m.Finished() {
				_ = bar.Finish()
			}
		}
	}
	var last time.Time
	start := time.Now()
	return func(m state.Migration) {
		if !m.Finished() && time.Since(last) < c.plainEvery() {
			return
		}
		last = time.Now()
		line := fmt.Sprintf("%s migration %s: %s, %s of %s", last.Format(time.TimeOnly), m.ID, objects(m),
			humanize.IBytes(uint64(m.BytesDone)), humanize.IBytes(uint64(max(m.BytesTotal, knownBytes))))
		if secs := time.Since(start).Seconds(); secs >= 1 && m.BytesDone > 0 {
			line += fmt.Sprintf(", %s/s", humanize.IBytes(uint64(float64(m.BytesDone)/secs)))
		}
		fmt.Fprintln(c.stderr, line)
	}
}

// printReport prints a migration's report with every failed upload: text, or JSON (as the
// "report" field of js, or as its own document). The exit code is 0 when the migration
// finished with every upload completed or is still going on without failures.
func (c *command) printReport(ctx context.Context, pf *client.Client, m state.Migration, asJSON bool, js *jsonStream) int {
	rep := client.ReportOf(m, time.Now())
	code := exitOK
	if m.Failed > 0 || m.Cancelled > 0 {
		code = exitFailed
	}
	if c.events != nil {
		return c.failureEvents(ctx, pf, m, code)
	}
	if asJSON {
		own := js == nil
		name := "report"
		if own {
			js, name = newJSONStream(c.stdout), ""
		}
		// The report's fields, then its failures streamed page by page.
		js.beginWith(name, struct {
			client.MigrationReport
			Failures []client.FailedUpload `json:"failures,omitempty"` // hides the report's own
		}{MigrationReport: rep})
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
			return c.fail(exitRuntime, "write JSON: %v", js.err)
		}
		if err != nil {
			return c.fail(exitRuntime, "status: listing failed uploads: %v", err)
		}
		return code
	}

	w := bufio.NewWriter(c.stdout)
	defer w.Flush()
	dest := m.Bucket
	if m.Prefix != "" {
		dest += "/" + m.Prefix
	}
	fmt.Fprintf(w, "migration  %s (%s)\n", m.ID, rep.State)
	fmt.Fprintf(w, "source     %s → %s\n", source.RedactSource(m.Source), dest)
	fmt.Fprintf(w, "uploads    %d: %d completed", m.Total, m.Completed)
	if m.Skipped > 0 {
		fmt.Fprintf(w, " (%d skipped: already in place)", m.Skipped)
	}
	fmt.Fprintf(w, ", %d failed, %d cancelled", m.Failed, m.Cancelled)
	if live := m.Total - m.Completed - m.Failed - m.Cancelled; live > 0 {
		fmt.Fprintf(w, ", %d in progress", live)
	}
	fmt.Fprintln(w)
	if m.FeedPaused != "" {
		fmt.Fprintf(w, "feeding    paused: %s\n", m.FeedPaused)
	}
	fmt.Fprintf(w, "bytes      %s of %s (%d of %d)", humanize.IBytes(uint64(m.BytesDone)),
		humanize.IBytes(uint64(m.BytesTotal)), m.BytesDone, m.BytesTotal)
	if m.BytesSkipped > 0 {
		fmt.Fprintf(w, ", %s already in place", humanize.IBytes(uint64(m.BytesSkipped)))
	}
	fmt.Fprintln(w)
	if n := m.Total - m.Started; m.Finished() && m.Started >= 0 && n > 0 {
		fmt.Fprintf(w, "           %d uploads never started: their sources were never read, their bytes are not counted\n", n)
	}
	fmt.Fprintf(w, "duration   %s, %s/s\n", rep.Elapsed().Round(time.Millisecond),
		humanize.IBytes(uint64(rep.BytesPerSecond)))
	if m.Failed > 0 {
		fmt.Fprintf(w, "failed uploads (%d):\n", m.Failed)
		for f, err := range pf.Failures(ctx, m.ID) {
			if err != nil {
				w.Flush()
				return c.fail(exitRuntime, "status: listing failed uploads: %v", err)
			}
			fmt.Fprintf(w, "  %s/%s (upload %s, source %s): %s\n", f.Bucket, f.Key, f.ID, f.Source, f.Error)
		}
	}
	if err := w.Flush(); err != nil {
		return c.fail(exitRuntime, "write: %v", err)
	}
	return code
}

// failureEvents ends --json-lines for a migration: an event per failed upload, then done
// with code.
func (c *command) failureEvents(ctx context.Context, pf *client.Client, m state.Migration, code int) int {
	for f, err := range pf.Failures(ctx, m.ID) {
		if err != nil {
			return c.fail(exitRuntime, "status: listing failed uploads: %v", err)
		}
		c.events.failed(f)
	}
	c.events.done(m.ID, client.MigrationState(m), code)
	return c.eventsDone(code)
}
