package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/state"
)

func (c *command) status(ctx context.Context, args []string) int {
	fs := c.flags("status", "ID [--watch] [--json | --json-lines]")
	watch := fs.Bool("watch", false, "follow the upload or migration until it finishes, showing progress (exit 0 only if every upload completed)")
	asJSON := fs.Bool("json", false, "print one JSON document instead of text")
	jsonLines := c.jsonLinesFlag(fs.FlagSet, "--watch")
	id, code, ok := c.parseWithID(fs, "status", args)
	if !ok {
		return code
	}
	if code := c.startEvents("status", *jsonLines, *asJSON); code != exitOK {
		return code
	}

	pf, closeAll, err := c.connect(ctx)
	if err != nil {
		return c.fail(exitRuntime, "%v", err)
	}
	defer closeAll()

	if !client.IsUploadID(id) {
		return c.showMigration(ctx, pf, id, *watch, *asJSON)
	}
	rec, err := state.ParseUploadID(id)
	if err != nil {
		return c.fail(exitUsage, "status: %v", err)
	}
	uid := client.UploadID(rec)
	if *watch {
		return c.waitUpload(ctx, pf, uid, *asJSON)
	}
	u, err := pf.Upload(ctx, uid)
	if errors.Is(err, client.ErrNotFound) {
		return c.fail(exitFailed, "status: no upload %s (unknown, or expired after its retention period)", id)
	}
	if err != nil {
		return c.fail(exitRuntime, "status: %v", err)
	}
	if c.events != nil {
		c.events.upload(u)
		c.events.done(u.ID.String(), string(u.State), exitOK)
		return c.eventsDone(exitOK)
	}
	if *asJSON {
		return c.printJSON(client.StatusOf(u))
	}
	fmt.Fprintf(c.stdout, "upload     %s\nstate      %s\nsource     %s\nobject     %s/%s\nprogress   %d/%d parts, %s of %s\n",
		u.ID, u.State, source.RedactSource(u.Source), u.Bucket, u.Key, u.PartsDone, u.Parts,
		humanize.IBytes(uint64(u.BytesDone)), humanize.IBytes(uint64(max(u.Size, 0))))
	if u.ETag != "" {
		fmt.Fprintf(c.stdout, "etag       %s\n", u.ETag)
	}
	if u.Error != "" {
		fmt.Fprintf(c.stdout, "error      %s\n", u.Error)
	}
	fmt.Fprintf(c.stdout, "updated    %s\n", u.Updated.Format(time.RFC3339))
	return exitOK
}
