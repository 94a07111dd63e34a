package tasks

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/storage"
)

// HandleStartTask plans an upload: it stats the source, fixes its size and fingerprint, plans
// the parts, starts the multipart upload and enqueues one task per part. An object not larger
// than one part goes as a single PutObject and completes here.
func (h *Handlers) HandleStartTask(ctx context.Context, t *asynq.Task) error {
	p, err := decode[UploadPayload](h, t)
	if err != nil {
		return err
	}
	j, err := h.load(ctx, t, p.UploadID)
	if err != nil {
		return err
	}
	if held, err := h.held(ctx, &j); held || err != nil {
		return err
	}
	switch j.u.State {
	case state.Planned:
		return h.plan(ctx, j)
	case state.Uploading:
		// Redelivered after the plan was recorded, or resumed after a failure: reconcile
		// with S3 and make sure every missing part has its task.
		return h.reconcile(ctx, j)
	}
	return nil
}

// plan plans a planned upload and starts it.
func (h *Handlers) plan(ctx context.Context, j job) error {
	info, err := h.statSource(ctx, j)
	if source.Permanent(err) {
		return h.fail(ctx, j, err, false)
	}
	if err != nil {
		return h.retryOrGiveUp(ctx, j, err)
	}
	parts, err := storage.PlanParts(info.Size, j.u.PartSize)
	if err != nil {
		return h.fail(ctx, j, err, false)
	}
	if !h.copies(j) { // a server-side copy holds no buffers
		if err := h.budget.check(min(parts.PartSize, info.Size)); err != nil {
			return h.fail(ctx, j, err, false)
		}
	}
	if err := h.checkDestination(ctx, j); err != nil {
		return err
	}
	plan := state.UploadPlan{Size: info.Size, Fingerprint: info.Fingerprint, PartSize: parts.PartSize, Parts: parts.Parts}
	opts, err := h.objectOptions(j)
	if err != nil {
		return h.fail(ctx, j, err, false)
	}
	opts = withSourceProps(opts, info.Props, j.u.Key)
	opts.Metadata = withFingerprint(opts.Metadata, info.Fingerprint)

	if j.u.SkipExisting {
		if skipped, err := h.skipExisting(ctx, j, info, plan); skipped || err != nil {
			return err
		}
	}
	if parts.SinglePut() {
		if h.copies(j) {
			return h.copySingle(ctx, j, info, plan, opts)
		}
		return h.putSingle(ctx, j, info, plan, opts)
	}

	s3id, err := h.s3.CreateUpload(ctx, j.object(), opts)
	if err != nil {
		return h.s3Error(ctx, j, fmt.Errorf("start multipart upload: %w", err))
	}
	plan.S3UploadID = s3id
	if err := h.store.RememberS3Upload(ctx, state.S3Upload{S3UploadID: s3id, Upload: j.u.ID.String(),
		Bucket: j.u.Bucket, Key: j.u.Key}); err != nil {
		j.u.S3UploadID = s3id
		h.abort(ctx, j)
		return err
	}
	out, err := h.store.StartUploading(ctx, j.u.ID, j.u.Version, plan)
	if err != nil {
		j.u.S3UploadID = s3id
		h.abort(ctx, j)
		return err
	}
	if out.Result != state.ResultOK {
		// Another run of this task planned the upload first: discard our multipart upload
		// and carry on with the recorded plan.
		j.log.Info("StartLost", "result", out.Result, "state", out.State)
		j.u.S3UploadID = s3id
		h.abort(ctx, j)
		if j.u, err = h.store.GetUpload(ctx, j.u.ID); err != nil {
			return err
		}
		if j.u.State != state.Uploading {
			return nil
		}
		return h.enqueueParts(ctx, j)
	}
	j.log.Info("UploadPlanned", "size", plan.Size, "part_size", plan.PartSize, "parts", plan.Parts)
	if j.u, err = h.store.GetUpload(ctx, j.u.ID); err != nil {
		return err
	}
	return h.enqueueParts(ctx, j)
}

// putSingle uploads a small object with one PutObject and completes the upload.
func (h *Handlers) putSingle(ctx context.Context, j job, info source.Info, plan state.UploadPlan, opts storage.ObjectOptions) error {
	buf, release, err := h.budget.buffer(ctx, info.Size)
	if errors.Is(err, ErrPartTooLarge) {
		return h.fail(ctx, j, err, false)
	} else if err != nil {
		return h.retryOrGiveUp(ctx, j, err)
	}
	defer release()
	if err := h.readSource(ctx, j, info, 0, buf); err != nil {
		if source.Permanent(err) {
			return h.fail(ctx, j, err, false)
		}
		return h.retryOrGiveUp(ctx, j, err)
	}
	releaseDest, err := h.holdDestination(ctx, j, PartTimeout(info.Size), false)
	if err != nil {
		return err
	}
	defer releaseDest()
	part, err := h.s3.PutObject(h.sendLimits(ctx, j), j.object(), buf, opts)
	if err != nil {
		return h.s3Error(ctx, j, fmt.Errorf("put object: %w", err))
	}
	return h.completeSingle(ctx, j, info, plan, part.ETag)
}

// completeSingle records an upload whose object one request (a PUT or a copy) stored.
func (h *Handlers) completeSingle(ctx context.Context, j job, info source.Info, plan state.UploadPlan, etag string) error {
	out, err := h.store.CompleteSingle(ctx, j.u.ID, j.u.Version, plan, etag)
	if err != nil {
		return err
	}
	return h.singleCompleted(ctx, j, plan, etag, out)
}

// singleCompleted acts on what recording the completion of an upload sent as one PutObject
// found (out).
func (h *Handlers) singleCompleted(ctx context.Context, j job, plan state.UploadPlan, etag string, out state.Outcome) error {
	var err error
	if out.Result != state.ResultOK && out.State == state.Cancelled {
		// A cancel came while the PUT was in flight, and the PUT landed: the object is in S3.
		// Record that (deleting it could destroy what the key held before): the upload is
		// completed, not cancelled.
		j.log.Warn("CancelOvertaken", "reason", "the single PUT landed after the cancel; recording the upload completed")
		out, err = h.store.CompleteSingleAfterCancel(ctx, j.u.ID, out.Version, plan, etag)
		if err != nil {
			return err
		}
	}
	if out.Result != state.ResultOK {
		j.log.Info("StartLost", "result", out.Result, "state", out.State)
		return nil
	}
	j.log.Info("UploadCompleted", "size", plan.Size, "etag", etag)
	h.metrics.ObjectUploaded(plan.Size)
	h.metrics.UploadFinished(string(state.Completed))
	h.reportIfFinished(ctx, j, out)
	return nil
}

// enqueueParts enqueues the task of every part not yet recorded, or the finalizer when every
// part is. Tasks that exist already are left alone (their IDs are deterministic).
func (h *Handlers) enqueueParts(ctx context.Context, j job) error {
	recorded, err := h.store.PartETags(ctx, j.u.ID)
	if err != nil {
		return err
	}
	if len(recorded) >= j.u.Parts {
		return h.enqueueFinalize(ctx, j)
	}
	done := make(map[int]bool, len(recorded))
	for _, p := range recorded {
		done[p.Number] = true
	}
	m, err := h.store.GetMigration(ctx, j.u.ID.Migration)
	if err != nil {
		return err
	}
	queue := PartQueue(m)
	enqueued := 0
	for n := 1; n <= j.u.Parts; n++ {
		if done[n] {
			continue
		}
		err := h.enqueue(ctx, NewPartTask(ctx, j.u, n, queue), queue, PartTaskID(j.u, n), h.partOptions(j.u.PartSize)...)
		if err != nil {
			return fmt.Errorf("tasks: enqueue part %d of %s: %w", n, j.u.ID, err)
		}
		enqueued++
	}
	j.log.Info("PartsEnqueued", "parts", enqueued, "queue", queue)
	return nil
}

// enqueueFinalize enqueues the upload's finalizer; a finalizer that exists already is fine.
func (h *Handlers) enqueueFinalize(ctx context.Context, j job) error {
	if err := h.enqueue(ctx, NewFinalizeTask(ctx, j.u.ID, j.u.Size), QueueHigh, FinalizeTaskID(j.u.ID)); err != nil {
		return fmt.Errorf("tasks: enqueue finalizer of %s: %w", j.u.ID, err)
	}
	return nil
}

// partOptions are this worker's retry budget and timeout for the part tasks it enqueues.
func (h *Handlers) partOptions(partSize int64) []asynq.Option {
	timeout := h.partTimeout
	if timeout == 0 {
		timeout = PartTimeout(partSize)
	}
	return []asynq.Option{asynq.MaxRetry(h.partRetries), asynq.Timeout(timeout)}
}

// enqueue enqueues t, treating "a task with this ID exists" as success.
//
// A task under that ID (queue, id) that is pending, scheduled, retrying or running will do the
// work. One that asynq archived will not: it gave up on it, possibly before this upload's
// record was even created (a Redis that lost its data, an old plan). It is deleted and t
// enqueued in its place, or the upload would wait forever on a dead task.
func (h *Handlers) enqueue(ctx context.Context, t *asynq.Task, queue, id string, opts ...asynq.Option) error {
	_, err := h.queue.EnqueueContext(ctx, t, opts...)
	if errors.Is(err, asynq.ErrDuplicateTask) {
		return nil
	}
	if !errors.Is(err, asynq.ErrTaskIDConflict) {
		return err
	}
	if h.tasks == nil {
		return nil
	}
	info, err := h.tasks.GetTaskInfo(queue, id)
	if err != nil || info.State != asynq.TaskStateArchived {
		return nil // it exists (or it just finished): nothing to do
	}
	if err := h.tasks.DeleteTask(queue, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
		return fmt.Errorf("tasks: replace archived task %s: %w", id, err)
	}
	h.log.Warn("ArchivedTaskReplaced", "task_id", id, "queue", queue, "last_error", info.LastErr)
	if _, err := h.queue.EnqueueContext(ctx, t, opts...); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return err
	}
	return nil
}

// s3Error fails the upload for S3 errors that retrying cannot fix and retries the rest. An
// error that will fail every upload to the destination pauses a migration of many uploads
// instead; the one upload of a put fails with it, as any permanent error.
func (h *Handlers) s3Error(ctx context.Context, j job, err error) error {
	if storage.DestinationWide(err) && (j.task == TypeStart || j.task == TypePart) && h.manyUploads(ctx, j) {
		return h.pauseForDestination(ctx, j, err)
	}
	if storage.Permanent(err) {
		return h.fail(ctx, j, err, false)
	}
	return h.retryOrGiveUp(ctx, j, err)
}

// manyUploads reports whether j's migration has more than one upload (a migrate, not a put).
func (h *Handlers) manyUploads(ctx context.Context, j job) bool {
	m, err := h.store.GetMigration(ctx, j.u.ID.Migration)
	return err == nil && (m.Total > 1 || !m.Sealed)
}
