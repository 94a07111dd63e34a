package main

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/partflow/partflow/client"
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
	if code := c.startReporter("list", *asJSON, false); code != exitOK {
		return code
	}
	if *want != "" && !slices.Contains(client.MigrationStates, *want) {
		return c.fail(exitUsage, "list: unknown --state %q: want one of %s", *want, strings.Join(client.MigrationStates, ", "))
	}
	pf, closeAll, code := c.connect(ctx)
	if code != 0 {
		return code
	}
	defer closeAll()

	c.rep.listBegin()
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
			c.rep.listed(m, now)
		}
		if len(page) == 0 && offset >= total {
			break
		}
	}
	return c.rep.listEnd(listErr)
}
