package client

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hibiken/asynq"

	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/tasks"
)

// ErrNotResumable is returned when resuming an upload that has not failed.
var ErrNotResumable = errors.New("only failed uploads can be resumed")

// ErrNotCancellable is returned when cancelling an upload that is completing or finished.
var ErrNotCancellable = errors.New("only planned, uploading or failed uploads can be cancelled")

// Tally counts what Resume or Cancel did to a migration's uploads.
type Tally struct {
	Changed int // uploads resumed or cancelled
	Skipped int // uploads left alone (not in a state the action applies to)
}

// Resume resumes a failed upload, or each upload of a migration that had failed when it was
// called, once: its leftover tasks are removed, it goes back to uploading (or to planned if
// it never started a multipart upload), and its start task reconciles with S3 so that only
// missing parts are uploaded. A paused migration is un-paused first and each of its live
// uploads gets its start task (or its finalizer) back, which again sends only what is
// missing. Tally.Changed counts the uploads resumed or re-enqueued.
func (c *Client) Resume(ctx context.Context, id string) (Tally, error) {
	if IsUploadID(id) {
		uid, err := ParseUploadID(id)
		if err != nil {
			return Tally{}, err
		}
		return one(c.resumeUpload(ctx, state.UploadID(uid)))
	}
	m, err := c.store.GetMigration(ctx, id)
	if err != nil {
		return Tally{}, err
	}
	requeued, err := c.resumePaused(ctx, m)
	if err != nil {
		return Tally{Changed: requeued}, err
	}
	// Only uploads that failed before now: a resumed upload that fails again while this
	// pages on (a missing file fails within milliseconds) is not resumed and counted again.
	now, err := c.store.Now(ctx)
	if err != nil {
		return Tally{}, err
	}
	out := Tally{Changed: requeued}
	for {
		// Resuming takes uploads off the failed list, so the first page is always the next.
		ids, err := c.store.FailedUploadsBefore(ctx, id, now, int64(out.Skipped), 500)
		if err != nil || len(ids) == 0 {
			return out, err
		}
		for _, uid := range ids {
			switch err := c.resumeUpload(ctx, uid); {
			case err == nil:
				out.Changed++
			case errors.Is(err, ErrNotResumable) || errors.Is(err, state.ErrNotFound):
				out.Skipped++
			default:
				return out, err
			}
		}
	}
}

func (c *Client) resumeUpload(ctx context.Context, id state.UploadID) error {
	u, err := c.store.GetUpload(ctx, id)
	if err != nil {
		return err
	}
	if u.State != state.Failed {
		return fmt.Errorf("client: resume %s: it is %s: %w", id, u.State, ErrNotResumable)
	}
	if err := c.dropTasks(ctx, u); err != nil {
		return err
	}
	to := state.Uploading
	if u.S3UploadID == "" {
		to = state.Planned // it failed before planning, or went as a single PUT
	}
	out, err := c.store.Transition(ctx, id, u.Version, []state.State{state.Failed}, to, "error", "")
	if err != nil {
		return err
	}
	if out.Result != state.ResultOK {
		return fmt.Errorf("client: resume %s: it changed meanwhile (%s); try again", id, out.Result)
	}
	return c.enqueue(ctx, tasks.NewStartTask(ctx, id))
}

// Cancel cancels an upload, or every live or failed upload of a migration: it is marked
// cancelled, its pending tasks are removed (a part task already running finds it cancelled
// and does nothing) and a worker aborts its multipart upload in S3.
func (c *Client) Cancel(ctx context.Context, id string) (Tally, error) {
	if IsUploadID(id) {
		uid, err := ParseUploadID(id)
		if err != nil {
			return Tally{}, err
		}
		return one(c.cancelUpload(ctx, state.UploadID(uid)))
	}
	if _, err := c.store.GetMigration(ctx, id); err != nil {
		return Tally{}, err
	}
	// A fed migration's feeder creates no more uploads (before the live ones are cancelled).
	if err := c.store.StopFeed(ctx, id); err != nil {
		return Tally{}, err
	}
	var out Tally
	const page = 500
	for offset := int64(0); ; offset += page {
		ids, err := c.store.MigrationUploads(ctx, id, offset, page)
		if err != nil || len(ids) == 0 {
			return out, err
		}
		for _, uid := range ids {
			switch err := c.cancelUpload(ctx, uid); {
			case err == nil:
				out.Changed++
			case errors.Is(err, ErrNotCancellable) || errors.Is(err, state.ErrNotFound):
				out.Skipped++
			default:
				return out, err
			}
		}
	}
}

func (c *Client) cancelUpload(ctx context.Context, id state.UploadID) error {
	out, err := c.store.Transition(ctx, id, state.AnyVersion, []state.State{state.Planned, state.Uploading, state.Failed},
		state.Cancelled, "error", "cancelled by request")
	if err != nil {
		return err
	}
	if out.Result == state.ResultMissing {
		return fmt.Errorf("client: cancel %s: %w", id, state.ErrNotFound)
	}
	if out.Result != state.ResultOK {
		return fmt.Errorf("client: cancel %s: it is %s: %w", id, out.State, ErrNotCancellable)
	}
	// Read the record after the transition: a start task may have planned the upload (and
	// started its multipart upload) between an earlier read and the cancel.
	u, err := c.store.GetUpload(ctx, id)
	if err != nil {
		return err
	}
	if err := c.dropTasks(ctx, u); err != nil {
		return err
	}
	// Always: the abort task reads the S3 upload ID from the record, and does nothing without
	// one. A start task that loses to the cancel aborts its own multipart upload.
	return c.enqueue(ctx, tasks.NewAbortTask(id))
}

// dropTasks deletes an upload's tasks that are not running: pending, scheduled, retrying and
// archived ones. Running tasks cannot be deleted; they check the upload's state.
func (c *Client) dropTasks(ctx context.Context, u state.Upload) error {
	m, err := c.store.GetMigration(ctx, u.ID.Migration)
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return err
	}
	insp := asynq.NewInspectorFromRedisClient(c.rdb)
	del := func(queue, taskID string) error {
		err := insp.DeleteTask(queue, taskID)
		if err == nil || errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// A running (active) task cannot be deleted; it will see the new state. It may also
		// have finished since.
		info, gerr := insp.GetTaskInfo(queue, taskID)
		switch {
		case errors.Is(gerr, asynq.ErrTaskNotFound):
			return nil
		case gerr == nil && (info.State == asynq.TaskStateActive || info.State == asynq.TaskStateCompleted):
			return nil
		}
		return fmt.Errorf("client: delete task %s: %w", taskID, err)
	}
	// Tasks are deleted dropBatch at once: each delete is one round trip (asynq has no bulk
	// delete by ID), so a 10,000-part upload would otherwise wait for 10,000 of them one after
	// the other.
	refs := tasks.UploadTasks(u, tasks.PartQueue(m), nil)
	queue := make(chan tasks.TaskRef)
	errs := make(chan error, dropBatch)
	var wg sync.WaitGroup
	for range min(dropBatch, len(refs)) {
		wg.Go(func() {
			for t := range queue {
				if err := del(t.Queue, t.ID); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var first error
feed:
	for _, t := range refs {
		if t.Shared {
			continue // a batch task skips an upload that is no longer planned
		}
		select {
		case queue <- t:
		case first = <-errs:
			break feed
		}
	}
	close(queue)
	wg.Wait()
	close(errs)
	if first == nil {
		first = <-errs // nil when every delete went through
	}
	return first
}

// dropBatch is how many of an upload's tasks dropTasks deletes at once.
const dropBatch = 32

// enqueue enqueues t; a task with its ID that exists already is fine.
func (c *Client) enqueue(ctx context.Context, t *asynq.Task) error {
	_, err := c.queue.EnqueueContext(ctx, t)
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("client: enqueue %s: %w", t.Type(), err)
	}
	return nil
}

func one(err error) (Tally, error) {
	if err != nil {
		return Tally{}, err
	}
	return Tally{Changed: 1}, nil
}
