package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/source"
)

// listPage is how many migrations list reads per round trip.
const listPage = 200

// list is `enqueuer list`: the migrations (a single put is a migration of one), most recently
// changed first, read a page at a time.
func (c *command) list(ctx context.Context, args []string) int {
	fs := c.flags("list", "[--state STATE] [--limit N] [--json]")
	want := fs.String("state", "", "only migrations in this state: "+strings.Join(client.MigrationStates, ", "))
	limit := fs.Int("limit", 0, "print at most this many (0: all)")
	asJSON := fs.Bool("json", false, "print one JSON document (an array) instead of a table")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return c.fail(exitUsage, "list: unexpected argument %q", fs.Arg(0))
	}
	if *want != "" && !slices.Contains(client.MigrationStates, *want) {
		return c.fail(exitUsage, "list: unknown --state %q: want one of %s", *want, strings.Join(client.MigrationStates, ", "))
	}
	pf, closeAll, err := c.connect(ctx)
	if err != nil {
		return c.fail(exitRuntime, "%v", err)
	}
	defer closeAll()

	var js *jsonStream
	var tw *tabwriter.Writer
	if *asJSON {
		js = newJSONStream(c.stdout)
		js.begin("", '[')
	} else {
		tw = tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "MIGRATION\tSTATE\tUPLOADS\tFAILED\tBYTES\tDESTINATION\tSOURCE\tCREATED")
	}
	now := time.Now()
	shown := 0
	var listErr error
pages:
	for offset, total := int64(0), int64(1); offset < total; {
		var page []client.Migration
		page, total, listErr = pf.ListMigrations(ctx, offset, listPage)
		if listErr != nil {
			break
		}
		// Entries of expired migrations drop out of the index as they are met, so the next
		// page starts after the ones returned.
		offset += int64(len(page))
		for _, m := range page {
			st := client.MigrationState(m)
			if *want != "" && st != *want {
				continue
			}
			if *limit > 0 && shown >= *limit {
				break pages
			}
			shown++
			if js != nil {
				rep := client.ReportOf(m, now)
				js.value("", struct {
					client.MigrationReport
					Failures []client.FailedUpload `json:"failures,omitempty"`
				}{MigrationReport: rep})
				continue
			}
			dest := m.Bucket
			if m.Prefix != "" {
				dest += "/" + m.Prefix
			}
			fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%d\t%s/%s\t%s\t%s\t%s\n", m.ID, st, m.Completed, m.Total, m.Failed,
				humanize.IBytes(uint64(m.BytesDone)), humanize.IBytes(uint64(m.BytesTotal)), dest, source.RedactSource(m.Source),
				m.Created.Format(time.DateTime))
		}
		if len(page) == 0 && offset >= total {
			break
		}
	}
	if js != nil {
		if listErr != nil {
			js.end()
			return c.fail(exitRuntime, "list: %v", listErr)
		}
		js.end()
		if js.err != nil {
			return c.fail(exitRuntime, "write JSON: %v", js.err)
		}
		return exitOK
	}
	tw.Flush()
	if listErr != nil {
		return c.fail(exitRuntime, "list: %v", listErr)
	}
	return exitOK
}
