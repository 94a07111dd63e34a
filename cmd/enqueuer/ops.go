package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/partflow/partflow/client"
)

func (c *command) resume(ctx context.Context, args []string) int {
	return c.operate(ctx, "resume", args, func(pf *client.Client, id string) (client.Tally, error) {
		return pf.Resume(ctx, id)
	})
}

func (c *command) cancel(ctx context.Context, args []string) int {
	return c.operate(ctx, "cancel", args, func(pf *client.Client, id string) (client.Tally, error) {
		return pf.Cancel(ctx, id)
	})
}

// operate runs resume or cancel on one upload or migration ID.
func (c *command) operate(ctx context.Context, name string, args []string,
	do func(*client.Client, string) (client.Tally, error)) int {
	fs := c.flags(name, "ID")
	id, code, ok := c.parseWithID(fs, name, args)
	if !ok {
		return code
	}
	pf, closeAll, code := c.connect(ctx)
	if code != 0 {
		return code
	}
	defer closeAll()
	out, err := do(pf, id)
	switch {
	case errors.Is(err, client.ErrInvalid):
		return c.fail(exitUsage, "%s: %v", name, err)
	case errors.Is(err, client.ErrNotFound):
		return c.fail(exitFailed, "%s: no upload or migration %s (unknown, or expired after its retention period)", name, id)
	case errors.Is(err, client.ErrNotResumable), errors.Is(err, client.ErrNotCancellable):
		return c.fail(exitFailed, "%s: %v", name, err)
	case err != nil:
		return c.fail(exitRuntime, "%s: %v", name, err)
	}
	past := map[string]string{"resume": "resumed", "cancel": "cancelled"}[name]
	fmt.Fprintf(c.stdout, "%s %d upload(s) of %s; %d left alone\n", past, out.Changed, id, out.Skipped)
	return exitOK
}

// pause is `enqueuer pause MIGRATION`.
func (c *command) pause(ctx context.Context, args []string) int {
	fs := c.flags("pause", "ID [--reason TEXT]")
	reason := fs.String("reason", "", "why, shown by status (default \"paused by request\")")
	id, code, ok := c.parseWithID(fs, "pause", args)
	if !ok {
		return code
	}
	pf, closeAll, code := c.connect(ctx)
	if code != 0 {
		return code
	}
	defer closeAll()
	changed, err := pf.Pause(ctx, id, *reason)
	switch {
	case errors.Is(err, client.ErrInvalid):
		return c.fail(exitUsage, "pause: %v", err)
	case errors.Is(err, client.ErrNotFound):
		return c.fail(exitFailed, "pause: no migration %s (unknown, or expired after its retention period)", id)
	case err != nil:
		return c.fail(exitRuntime, "pause: %v", err)
	}
	if !changed {
		fmt.Fprintf(c.stdout, "migration %s was paused already\n", id)
		return exitOK
	}
	fmt.Fprintf(c.stdout, "paused migration %s (resume it with 'enqueuer resume %s')\n", id, id)
	return exitOK
}
