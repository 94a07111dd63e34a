package main

import (
	"context"
	"errors"

	"github.com/partflow/partflow/client"
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
	if code := c.startReporter("status", *asJSON, *jsonLines); code != exitOK {
		return code
	}

	pf, closeAll, code := c.connect(ctx)
	if code != 0 {
		return code
	}
	defer closeAll()

	if !client.IsUploadID(id) {
		return c.showMigration(ctx, pf, id, *watch)
	}
	rec, err := state.ParseUploadID(id)
	if err != nil {
		return c.fail(exitUsage, "status: %v", err)
	}
	uid := client.UploadID(rec)
	if *watch {
		return c.waitUpload(ctx, pf, uid)
	}
	u, err := pf.Upload(ctx, uid)
	if errors.Is(err, client.ErrNotFound) {
		return c.fail(exitFailed, "status: no upload %s (unknown, or expired after its retention period)", id)
	}
	if err != nil {
		return c.fail(exitRuntime, "status: %v", err)
	}
	return c.rep.uploadStatus(u)
}

// showMigration is `status MIGRATION [--watch]`: the migration's report, after following it to
// its end with --watch. With --watch it exits 0 only if every upload completed.
func (c *command) showMigration(ctx context.Context, pf *client.Client, id string, watch bool) int {
	m, err := pf.Migration(ctx, id)
	if errors.Is(err, client.ErrNotFound) {
		return c.fail(exitFailed, "status: no migration %s (unknown, or expired after its retention period)", id)
	}
	if err != nil {
		return c.fail(exitRuntime, "status: %v", err)
	}
	if watch {
		return c.finishMigration(ctx, pf, id, 0)
	}
	return c.rep.migrationStatus(ctx, pf, m)
}

// finishMigration follows a migration until it is finished, showing its progress, then
// reports it and returns the exit code: 0 only if every upload completed.
func (c *command) finishMigration(ctx context.Context, pf *client.Client, id string, knownBytes int64) int {
	m, err := pf.WaitMigration(ctx, id, c.rep.migrationProgress(knownBytes))
	if errors.Is(err, context.DeadlineExceeded) {
		return c.fail(exitTimeout, "waiting for migration %s: --timeout passed (it goes on; follow it with 'enqueuer status %s --watch')", id, id)
	}
	if err != nil {
		return c.fail(exitRuntime, "waiting for migration %s: %v (it goes on; follow it with 'enqueuer status %s --watch')", id, err, id)
	}
	if m.Paused() && !m.Finished() {
		return c.fail(exitPaused, "migration %s is paused: %s ('enqueuer resume %s' continues it)", id, m.Pause.Reason, id)
	}
	return c.rep.report(context.WithoutCancel(ctx), pf, m, migrationCode(m))
}
