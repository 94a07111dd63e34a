package main

import (
	"bufio"
	"context"
	"errors"
	"strings"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/report"
	"github.com/partflow/partflow/internal/state"
)

// report is `enqueuer report ID`: every upload of a migration, streamed one row at a time.
func (c *command) report(ctx context.Context, args []string) int {
	fs := c.flags("report", "ID [--format jsonl|csv] [--state S,...]")
	format := fs.String("format", "jsonl", "jsonl (one JSON object per line) or csv (RFC 4180, with a header row)")
	states := fs.List("state", "only uploads in these states (planned, uploading, completing, completed, failed, cancelled); repeat or comma-separate")
	id, code, ok := c.parseWithID(fs, "report", args)
	if !ok {
		return code
	}
	f, err := report.ParseFormat(*format)
	if err != nil {
		return c.fail(exitUsage, "report: --format: %v", strings.TrimPrefix(err.Error(), "report: "))
	}
	for _, s := range *states {
		if !state.State(s).Known() {
			return c.fail(exitUsage, "report: --state %q: want planned, uploading, completing, completed, failed or cancelled", s)
		}
	}
	if state.IsUploadID(id) {
		return c.fail(exitUsage, "report: %s is an upload; report takes a migration ID (see status for an upload)", id)
	}
	pf, closeAll, code := c.connect(ctx)
	if code != 0 {
		return code
	}
	defer closeAll()
	out := bufio.NewWriterSize(c.stdout, 64<<10)
	w := report.NewWriter(out, f)
	for row, err := range pf.Report(ctx, id, *states...) {
		if errors.Is(err, client.ErrNotFound) {
			return c.fail(exitFailed, "report: no migration %s (unknown, or expired after its retention period)", id)
		}
		if err == nil {
			err = w.Write(row)
		}
		if err != nil {
			out.Flush()
			return c.fail(exitRuntime, "report: %v", err)
		}
	}
	if err := w.Flush(); err != nil {
		return c.fail(exitRuntime, "report: %v", err)
	}
	if err := out.Flush(); err != nil {
		return c.fail(exitRuntime, "report: write: %v", err)
	}
	return exitOK
}
