package tasks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/partflow/partflow/internal/metrics"
	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/storage"
)

// HandlePartTask uploads one part: it reads the part's byte range (checking that the source
// still matches its fingerprint), uploads it with Content-MD5, records its ETag and, when it
// was the last part, enqueues the finalizer. A redelivered part that is recorded already only
// does the last step, so a crash between recording and enqueueing cannot strand the upload.
func (h *Handlers) HandlePartTask(ctx context.Context, t *asynq.Task) error {
	p, err := decode[PartPayload](h, t)
	if err != nil {
		return err
	}
	j, err := h.load(ctx, t, p.UploadID)
	if err != nil {
		return err
	}
	j.log = j.log.With("part", p.Part)
	switch j.u.State {
	case state.Uploading:
	case state.Planned:
		return h.retryOrGiveUp(ctx, j, errors.New("tasks: part task ran before its upload was planned"))
	default: // completing, completed, failed, cancelled: nothing left for a part to do
		j.log.Debug("PartSkipped", "state", j.u.State)
		return nil
	}
	if p.Part < 1 || p.Part > j.u.Parts {
		return h.garbage(t, fmt.Errorf("part %d out of range 1..%d", p.Part, j.u.Parts))
	}

	recorded, err := h.store.PartRecorded(ctx, j.u.ID, p.Part)
	if err != nil {
		return err
	}
	if recorded {
		h.metrics.PartDone(metrics.PartDuplicate, 0, 0)
		return h.afterRecord(ctx, j, state.PartOutcome{Result: state.Duplicate, State: j.u.State,
			PartsDone: j.u.PartsDone, Parts: j.u.Parts})
	}

	return h.uploadPart(ctx, j, p.Part)
}

// uploadPart reads, uploads and records part n.
func (h *Handlers) uploadPart(ctx context.Context, j job, n int) (err error) {
	defer h.metrics.PartStarted()()
	start := time.Now()
	plan := storage.Plan{Size: j.u.Size, PartSize: j.u.PartSize, Parts: j.u.Parts}
	off, length := plan.Part(n)
	defer func() { h.observePart(start, length, err) }()

	// A fresh buffer per part: net/http may still read a request body after the call
	// returns (on an early error response), so buffers are never reused. Each running part
	// holds one, counted against the worker's memory budget while the part runs.
	release, err := h.budget.acquire(ctx, length)
	if errors.Is(err, ErrPartTooLarge) {
		return h.fail(ctx, j, err, false)
	} else if err != nil {
		return h.retryOrGiveUp(ctx, j, err)
	}
	defer release()
	buf := make([]byte, length)
	want := source.Info{Size: j.u.Size, Fingerprint: j.u.Fingerprint}
	if err := h.sources.ReadAt(ctx, j.u.Source, want, off, buf); err != nil {
		if source.Permanent(err) {
			return h.fail(ctx, j, err, true)
		}
		return h.retryOrGiveUp(ctx, j, err)
	}

	opts, err := h.objectOptions(j)
	if err != nil {
		return h.fail(ctx, j, err, false)
	}
	part, err := h.s3.UploadPart(ctx, j.object(), j.u.S3UploadID, n, buf, opts)
	switch {
	case errors.Is(err, storage.ErrNoSuchUpload):
		return h.uploadVanished(ctx, j, err)
	case err != nil:
		return h.s3Error(ctx, j, fmt.Errorf("upload part %d: %w", n, err))
	}

	out, err := h.store.RecordPart(ctx, j.u.ID, n, partRecord(part), length)
	if err != nil {
		return err
	}
	j.log.Debug("PartUploaded", "bytes", length, "etag", part.ETag, "result", out.Result)
	return h.afterRecord(ctx, j, out)
}

// observePart reports a part attempt's result to the metrics.
func (h *Handlers) observePart(start time.Time, length int64, err error) {
	switch {
	case err == nil:
		h.metrics.PartDone(metrics.PartUploaded, length, time.Since(start))
	case errors.Is(err, asynq.SkipRetry):
		h.metrics.PartDone(metrics.PartFailed, 0, 0)
	default:
		h.metrics.PartDone(metrics.PartRetry, 0, 0)
	}
}

// afterRecord acts on what recording a part found.
func (h *Handlers) afterRecord(ctx context.Context, j job, out state.PartOutcome) error {
	switch out.Result {
	case state.Changed:
		// The script has failed the upload already; the multipart upload cannot be used.
		j.log.Error("UploadFailed", "reason", "source changed: a part came back with another ETag")
		h.abort(ctx, j)
		return fmt.Errorf("tasks: upload %s: part ETag changed: %w: %w", j.u.ID, source.ErrChanged, asynq.SkipRetry)
	case state.Recorded, state.Duplicate:
		if out.AllDone() {
			return h.enqueueFinalize(ctx, j)
		}
	case state.WrongState:
		if out.State == state.Cancelled {
			// The upload was cancelled while this part was in flight. Some servers (versitygw)
			// accept a part after an abort and bring the multipart upload back: abort again.
			j.log.Info("PartAfterCancel")
			h.abort(ctx, j)
		}
	}
	return nil
}

// uploadVanished handles NoSuchUpload on a part: fine if the upload was cancelled, failed or
// completed meanwhile; otherwise the multipart upload was aborted behind partflow's back.
func (h *Handlers) uploadVanished(ctx context.Context, j job, err error) error {
	u, gerr := h.store.Get(ctx, j.u.ID)
	if gerr != nil {
		return gerr
	}
	if u.State != state.Uploading {
		j.log.Info("PartSkipped", "state", u.State)
		return nil
	}
	return h.fail(ctx, j, fmt.Errorf("the multipart upload no longer exists in S3 (aborted outside partflow?): %w", err), false)
}
