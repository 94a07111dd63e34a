package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/schollz/progressbar/v3"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/cli"
	"github.com/partflow/partflow/internal/source"
)

// plainInterval is how often progress is printed as a plain line when stderr is not a terminal.
const plainInterval = 5 * time.Second

// textReporter prints for people: results on stdout; notes, invalid items and progress (a
// bar on a terminal, a plain line every plainInterval otherwise) on stderr.
type textReporter struct {
	c     *command
	table *tabwriter.Writer // list's
}

func (r *textReporter) fail(code int, msg string) int {
	fmt.Fprintf(r.c.stderr, "enqueuer: %s\n", msg)
	return code
}

func (r *textReporter) planning() {}

func (r *textReporter) invalid(err error) { fmt.Fprintf(r.c.stderr, "invalid: %v\n", err) }

func (r *textReporter) skipped(path, reason string) {
	fmt.Fprintf(r.c.notes(), "skipped: %s: %s\n", path, reason)
}

func (r *textReporter) planned(p planSummary) {
	if p.Listing != "" {
		return // enqueued says it
	}
	notes := r.c.notes()
	fmt.Fprintf(notes, "checked %d items in %s: %d valid, %d invalid", p.Plan.Valid+p.Plan.Invalid,
		p.Took.Round(time.Millisecond), p.Plan.Valid, p.Plan.Invalid)
	if p.Plan.Bytes > 0 {
		fmt.Fprintf(notes, ", %s", humanize.IBytes(uint64(p.Plan.Bytes)))
	}
	if p.Filtered {
		fmt.Fprintf(notes, "; %d left out by the filters", p.FilteredOut)
	}
	if p.Skipped > 0 {
		fmt.Fprintf(notes, "; %d entries skipped (not regular files)", p.Skipped)
	}
	if p.Plan.Duplicates > 0 {
		fmt.Fprintf(notes, "; %d repeat an earlier key", p.Plan.Duplicates)
	}
	fmt.Fprintln(notes)
}

// dryRun prints the dry run's plan.
func (r *textReporter) dryRun(p planSummary) int {
	w := r.c.stdout
	fmt.Fprintf(w, "dry run: migration %s (nothing enqueued)\n", p.ID)
	fmt.Fprintf(w, "source     %s\n", p.Source)
	fmt.Fprintf(w, "items      %d valid, %d invalid\n", p.Plan.Valid, p.Plan.Invalid)
	if p.Plan.Bytes > 0 || strings.HasPrefix(p.Source, "dir:") {
		fmt.Fprintf(w, "bytes      %s (%d)\n", humanize.IBytes(uint64(p.Plan.Bytes)), p.Plan.Bytes)
	} else {
		fmt.Fprintln(w, "bytes      unknown until workers stat the sources")
	}
	if len(p.Plan.FirstKeys) > 0 {
		fmt.Fprintf(w, "first %d objects:\n", len(p.Plan.FirstKeys))
		for _, k := range p.Plan.FirstKeys {
			fmt.Fprintf(w, "  %s\n", k)
		}
	}
	if p.Filtered {
		fmt.Fprintf(w, "filtered   %d items left out by --include/--exclude/size/age/--files-from\n", p.FilteredOut)
	}
	return exitOK
}

// enqueueProgress shows the enqueue pass: a bar of items on a terminal, a plain line every
// plainInterval otherwise.
func (r *textReporter) enqueueProgress(total int64) func(client.MigrateResult) {
	c := r.c
	if c.verbosity.quiet {
		return nil
	}
	if f, ok := c.stderr.(*os.File); ok && cli.IsTerminal(f) {
		bar := progressbar.NewOptions64(total, progressbar.OptionSetWriter(f), progressbar.OptionSetDescription("enqueuing"),
			progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionFullWidth(),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(f) }))
		return func(r client.MigrateResult) {
			bar.Describe(fmt.Sprintf("enqueuing, %.0f items/s", r.Rate()))
			_ = bar.Set64(r.Items)
			if r.Sealed {
				_ = bar.Finish()
			}
		}
	}
	var last time.Time
	return func(r client.MigrateResult) {
		if r.Sealed || time.Since(last) < c.plainEvery() {
			return
		}
		last = time.Now()
		fmt.Fprintf(c.stderr, "%s enqueued %d/%d items (%.0f/s)\n", last.Format(time.TimeOnly), r.Items, total, r.Rate())
	}
}

func (r *textReporter) enqueueResult(client.MigrateResult) {}

func (r *textReporter) enqueued(res client.MigrateResult) {
	if res.Listing != "" {
		fmt.Fprintf(r.c.notes(), "migration %s: the fleet lists %s and feeds its objects, a window at a time\n", res.ID, res.Listing)
		return
	}
	if res.Fed {
		fmt.Fprintf(r.c.notes(), "migration %s: %d items written to %s in %s; the fleet feeds them, a window at a time\n",
			res.ID, res.Items, res.FeedFile, res.Duration.Round(time.Millisecond))
		return
	}
	fmt.Fprintf(r.c.notes(), "migration %s: %d items enqueued in %s (%.0f items/s): %d new uploads, %d existing (%d start tasks re-enqueued)\n",
		res.ID, res.Items, res.Duration.Round(time.Millisecond), res.Rate(), res.Created, res.Existing, res.Requeued)
}

func (r *textReporter) migrationEnqueued(id string) int {
	fmt.Fprintln(r.c.stdout, id)
	return exitOK
}

func (r *textReporter) finish(code int) int { return code }

func (r *textReporter) putEnqueued(id client.UploadID) int {
	fmt.Fprintln(r.c.stdout, id)
	return exitOK
}

func (r *textReporter) waiting(id client.UploadID, what string) {
	fmt.Fprintf(r.c.notes(), "enqueued upload %s: %s\n", id, what)
}

// uploadProgress shows an upload's progress: a bar on a terminal, a plain line per change
// otherwise.
func (r *textReporter) uploadProgress() func(client.Upload) {
	c := r.c
	if c.verbosity.quiet {
		return nil
	}
	if f, ok := c.stderr.(*os.File); ok && cli.IsTerminal(f) {
		var bar *progressbar.ProgressBar
		return func(u client.Upload) {
			// A bar only for multipart uploads: a single PUT lands at once, and the summary
			// line says how it went.
			if bar == nil && (u.Parts <= 1 || u.State.Terminal()) {
				return
			}
			if bar == nil {
				bar = progressbar.NewOptions64(u.Size, progressbar.OptionSetWriter(f), progressbar.OptionShowBytes(true),
					progressbar.OptionSetDescription(u.Key), progressbar.OptionSetPredictTime(true),
					progressbar.OptionShowElapsedTimeOnFinish(), progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionFullWidth(), progressbar.OptionOnCompletion(func() { fmt.Fprintln(f) }))
			}
			desc := fmt.Sprintf("%s [%d/%d parts]", u.Key, u.PartsDone, u.Parts)
			if u.State == client.StateCompleting {
				desc = u.Key + " [completing: S3 assembles the parts]"
			}
			bar.Describe(desc)
			_ = bar.Set64(u.BytesDone)
			switch {
			case u.State == client.StateCompleted:
				_ = bar.Finish()
			case u.State.Terminal():
				_ = bar.Exit()
				fmt.Fprintln(f)
			}
		}
	}
	return func(u client.Upload) {
		fmt.Fprintf(c.stderr, "%s %s: %s, %d/%d parts, %s/%s\n", time.Now().Format(time.TimeOnly), u.ID, u.State,
			u.PartsDone, u.Parts, humanize.IBytes(uint64(u.BytesDone)), humanize.IBytes(uint64(max(u.Size, 0))))
	}
}

// uploadResult prints the line that sums up a finished upload.
func (r *textReporter) uploadResult(u client.Upload, took time.Duration, code int) int {
	switch u.State {
	case client.StateCompleted:
		fmt.Fprintf(r.c.stdout, "completed %s/%s: %s in %s (%s/s), ETag %s\n", u.Bucket, u.Key,
			humanize.IBytes(uint64(u.Size)), took.Round(time.Millisecond),
			humanize.IBytes(uint64(float64(u.Size)/max(took.Seconds(), 0.001))), u.ETag)
	default:
		fmt.Fprintf(r.c.stdout, "%s %s/%s (upload %s): %s\n", u.State, u.Bucket, u.Key, u.ID, u.Error)
	}
	return code
}

func (r *textReporter) uploadStatus(u client.Upload) int {
	w := r.c.stdout
	fmt.Fprintf(w, "upload     %s\nstate      %s\nsource     %s\nobject     %s/%s\nprogress   %d/%d parts, %s of %s\n",
		u.ID, u.State, source.RedactSource(u.Source), u.Bucket, u.Key, u.PartsDone, u.Parts,
		humanize.IBytes(uint64(u.BytesDone)), humanize.IBytes(uint64(max(u.Size, 0))))
	if u.ETag != "" {
		fmt.Fprintf(w, "etag       %s\n", u.ETag)
	}
	if u.Error != "" {
		fmt.Fprintf(w, "error      %s\n", u.Error)
	}
	if u.TraceID != "" {
		fmt.Fprintf(w, "trace      %s\n", u.TraceID)
	}
	fmt.Fprintf(w, "updated    %s\n", u.Updated.Format(time.RFC3339))
	return exitOK
}

// migrationProgress shows a migration's progress: a bar of bytes (objects in its
// description) on a terminal, a plain line every plainInterval otherwise.
func (r *textReporter) migrationProgress(knownBytes int64) func(client.Migration) {
	c := r.c
	if c.verbosity.quiet {
		return nil
	}
	objects := func(m client.Migration) string {
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
		return func(m client.Migration) {
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
	return func(m client.Migration) {
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

// report prints a migration's report, listing every failed upload.
func (r *textReporter) report(ctx context.Context, pf *client.Client, m client.Migration, code int) int {
	rep := client.ReportOf(m, time.Now())
	w := bufio.NewWriter(r.c.stdout)
	defer w.Flush()
	dest := m.Bucket
	if m.Prefix != "" {
		dest += "/" + m.Prefix
	}
	fmt.Fprintf(w, "migration  %s (%s)\n", m.ID, rep.State)
	if m.Paused() {
		fmt.Fprintf(w, "paused     %s (since %s; 'enqueuer resume %s' continues it)\n", m.Pause.Reason,
			m.Pause.Since.Format(time.RFC3339), m.ID)
	}
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
				return r.fail(exitRuntime, fmt.Sprintf("status: listing failed uploads: %v", err))
			}
			fmt.Fprintf(w, "  %s/%s (upload %s, source %s): %s\n", f.Bucket, f.Key, f.ID, f.Source, f.Error)
		}
	}
	if err := w.Flush(); err != nil {
		return r.fail(exitRuntime, fmt.Sprintf("write: %v", err))
	}
	return code
}

func (r *textReporter) migrationStatus(ctx context.Context, pf *client.Client, m client.Migration) int {
	return statusCode(r.report(ctx, pf, m, migrationCode(m)))
}

// migrationCode is the exit code of a migration's report: 0 unless an upload failed or was
// cancelled.
func migrationCode(m client.Migration) int {
	if m.Failed > 0 || m.Cancelled > 0 {
		return exitFailed
	}
	return exitOK
}

// statusCode is status's exit code after a report: without --watch, failed uploads are
// reported, not an error of status.
func statusCode(code int) int {
	if code == exitFailed {
		return exitOK
	}
	return code
}

func (r *textReporter) listBegin() {
	r.table = tabwriter.NewWriter(r.c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(r.table, "MIGRATION\tSTATE\tUPLOADS\tFAILED\tBYTES\tDESTINATION\tSOURCE\tCREATED")
}

func (r *textReporter) listed(m client.Migration, _ time.Time) {
	dest := m.Bucket
	if m.Prefix != "" {
		dest += "/" + m.Prefix
	}
	fmt.Fprintf(r.table, "%s\t%s\t%d/%d\t%d\t%s/%s\t%s\t%s\t%s\n", m.ID, client.MigrationState(m), m.Completed, m.Total,
		m.Failed, humanize.IBytes(uint64(m.BytesDone)), humanize.IBytes(uint64(m.BytesTotal)), dest,
		source.RedactSource(m.Source), m.Created.Format(time.DateTime))
}

func (r *textReporter) listEnd(err error) int {
	r.table.Flush()
	if err != nil {
		return r.fail(exitRuntime, fmt.Sprintf("list: %v", err))
	}
	return exitOK
}
