package tasks

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/partflow/partflow/internal/metrics"
	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/tracing"
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
	if held, err := h.held(ctx, &j); held || err != nil {
		return err
	}
	switch j.u.State {
	case state.Uploading:
	case state.Planned:
		return h.retryOrGiveUp(ctx, j, errors.New("tasks: part task ran before its upload was planned"))
	default: // completing, completed, failed, cancelled: nothing left for a part to do
		j.log.Debug("PartSkipped", "state", j.u.State)
		return nil
	}
	// The fence: a task of another plan (the upload was reset and planned again since it was
	// enqueued) is dropped. A payload without a fence (from an older worker) is fenced by the
	// plan read now; recording checks the fence again, atomically.
	fence := state.PartFence{S3UploadID: p.S3UploadID, Parts: p.Parts}
	if fence.S3UploadID == "" {
		fence = j.u.Fence()
	}
	if fence != j.u.Fence() {
		j.log.Info("PartFenced", "task_s3_upload_id", fence.S3UploadID, "task_parts", fence.Parts,
			"s3_upload_id", j.u.S3UploadID, "parts", j.u.Parts)
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
		return h.afterRecord(ctx, j, fence, state.PartOutcome{Result: state.ResultDuplicate, State: j.u.State,
			PartsDone: j.u.PartsDone, Parts: j.u.Parts})
	}

	return h.uploadPart(ctx, j, fence, p.Part)
}

// uploadPart reads, uploads and records part n of the plan fence names.
func (h *Handlers) uploadPart(ctx context.Context, j job, fence state.PartFence, n int) (err error) {
	defer h.metrics.PartStarted()()
	start := time.Now()
	plan := storage.PartPlan{Size: j.u.Size, PartSize: j.u.PartSize, Parts: j.u.Parts}
	off, length := plan.Part(n)
	defer func() { h.observePart(start, length, err) }()
	if h.copies(j) {
		return h.copyPart(ctx, j, fence, n, off, length)
	}

	// Each running part holds a buffer, counted against the worker's memory budget and reused
	// by a later part once this one is done with it (storage never reads a body after the
	// call returned, although net/http may try to: see storage's guarded body).
	buf, release, err := h.budget.buffer(ctx, length)
	if errors.Is(err, ErrPartTooLarge) {
		return h.fail(ctx, j, err, false)
	} else if err != nil {
		return h.retryOrGiveUp(ctx, j, err)
	}
	defer release()
	want := source.Info{Size: j.u.Size, Fingerprint: j.u.Fingerprint}
	if err := h.readSource(ctx, j, want, off, buf); err != nil {
		if source.Permanent(err) {
			// Only a changed source makes the uploaded parts useless; after any other
			// permanent error (a file gone for a while, an expired URL) the multipart upload
			// is kept, so that resume sends only the missing parts.
			return h.fail(ctx, j, err, errors.Is(err, source.ErrChanged))
		}
		return h.retryOrGiveUp(ctx, j, err)
	}

	opts, err := h.objectOptions(j)
	if err != nil {
		return h.fail(ctx, j, err, false)
	}
	part, err := h.s3.UploadPart(h.sendLimits(ctx, j), j.object(), fence.S3UploadID, n, buf, opts)
	switch {
	case errors.Is(err, storage.ErrNoSuchUpload):
		return h.uploadVanished(ctx, j, fence, buf, err)
	case err != nil:
		return h.s3Error(ctx, j, fmt.Errorf("upload part %d: %w", n, err))
	}

	out, err := h.store.RecordPart(ctx, j.u.ID, fence, n, partRecord(part), length)
	if err != nil {
		return err
	}
	j.log.Debug("PartUploaded", "bytes", length, "etag", part.ETag, "result", out.Result)
	return h.afterRecord(ctx, j, fence, out)
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

// afterRecord acts on what recording a part of the plan fence names found.
func (h *Handlers) afterRecord(ctx context.Context, j job, fence state.PartFence, out state.PartOutcome) error {
	switch out.Result {
	case state.ResultFenced:
		// The upload was reset and planned again while this part was in flight: the part went
		// to the old multipart upload (which some servers bring back after an abort). Drop it
		// and abort that old multipart upload again; the new plan is left alone.
		j.log.Info("PartFenced", "task_s3_upload_id", fence.S3UploadID, "result", out.Result)
		if fence.S3UploadID != "" {
			h.abortS3(ctx, j, fence.S3UploadID)
		}
	case state.ResultChanged:
		// The script has failed the upload already; the multipart upload cannot be used.
		j.log.Error("UploadFailed", "reason", "source changed: a part came back with another ETag")
		h.abort(ctx, j)
		return fmt.Errorf("tasks: upload %s: part ETag changed: %w: %w", j.u.ID, source.ErrChanged, asynq.SkipRetry)
	case state.ResultRecorded, state.ResultDuplicate:
		if out.AllDone() {
			return h.finalizeInline(ctx, j)
		}
	case state.ResultWrongState:
		if out.State == state.Cancelled {
			// The upload was cancelled while this part was in flight. Some servers (versitygw)
			// accept a part after an abort and bring the multipart upload back: abort again.
			j.log.Info("PartAfterCancel")
			h.abort(ctx, j)
		}
	}
	return nil
}

// finalizeInline completes the upload in the task of the part that completed the set, saving
// the finalizer task's round through the queue, when the part task has time left for a whole
// finalization; the same version CAS as upload:finalize makes it exactly once, however many
// finalizers race. Otherwise, and whenever the inline run does not finish the upload (an error
// to retry, a claim kept after an unanswered Complete), the finalizer task is enqueued: it is
// the backstop, as it always was. A redelivered part (recorded already) comes here too, so a
// crash between recording and finalizing cannot strand the upload.
func (h *Handlers) finalizeInline(ctx context.Context, j job) error {
	if !h.inlineFinalize {
		return h.enqueueFinalize(ctx, j)
	}
	need := h.completeTimeoutFor(j.u.Size) + claimMargin + h.verifyFor()
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < need {
		return h.enqueueFinalize(ctx, j)
	}
	if retried, ok := asynq.GetRetryCount(ctx); ok {
		// The part task's last attempt would fail the upload over a passing finalizer error.
		if maxRetry, _ := asynq.GetMaxRetry(ctx); retried >= maxRetry {
			return h.enqueueFinalize(ctx, j)
		}
	}
	u, err := h.store.GetUpload(ctx, j.u.ID) // the version the last part left
	if err != nil {
		return h.enqueueFinalize(ctx, j)
	}
	fj := job{u: u, log: j.log.With("inline", true), task: TypeFinalize}
	// The finalize has its own span in the part's, as a finalizer task's would be.
	fctx, span := tracing.Start(ctx, TypeFinalize)
	err = h.finalize(fctx, fj)
	tracing.End(span, err)
	switch {
	case err == nil, errors.Is(err, errClaimed), errors.Is(err, asynq.SkipRetry):
		// Done, or another finalizer holds it, or it failed for good (recorded): nothing left.
		return nil
	}
	fj.log.Info("FinalizeHandedOver", "error", err)
	return h.enqueueFinalize(context.WithoutCancel(ctx), j)
}

// uploadVanished handles NoSuchUpload on a part: fine if the upload was cancelled, failed or
// completed meanwhile, or was planned again with another multipart upload (the part's is an
// old one: nothing is done to the new one); or the multipart upload was completed by a
// finalizer whose records a Redis failover lost (see completedUnrecorded); otherwise it was
// aborted behind partflow's back. buf is the part's buffer, reused to read the source again.
func (h *Handlers) uploadVanished(ctx context.Context, j job, fence state.PartFence, buf []byte, err error) error {
	u, gerr := h.store.GetUpload(ctx, j.u.ID)
	if gerr != nil {
		return gerr
	}
	if u.State != state.Uploading {
		j.log.Info("PartSkipped", "state", u.State)
		return nil
	}
	if u.Fence() != fence {
		j.log.Info("PartFenced", "task_s3_upload_id", fence.S3UploadID, "s3_upload_id", u.S3UploadID)
		return nil
	}
	j.u = u
	if out, ok, rerr := h.completedUnrecorded(ctx, j, fence, buf); rerr != nil {
		if !source.Permanent(rerr) {
			return h.retryOrGiveUp(ctx, j, rerr)
		}
		return h.fail(ctx, j, fmt.Errorf("the multipart upload no longer exists in S3, and the source cannot be read "+
			"to check the object under the key: %w", rerr), errors.Is(rerr, source.ErrChanged))
	} else if ok {
		return h.afterRecord(ctx, j, fence, out)
	}
	return h.fail(ctx, j, fmt.Errorf("the multipart upload no longer exists in S3 (aborted outside partflow?): %w", err), false)
}

// completedUnrecorded looks for the object a vanished multipart upload may have become: a
// Redis failover (Sentinel promotes a replica that missed the last writes) can rewind an
// upload to uploading after its finalizer completed it in S3, and its rerun parts then find
// NoSuchUpload. If the object under the key has the upload's size and the multipart ETag of
// this plan's parts as the source holds them now (each part read again, in buf-sized
// chunks, and its MD5 taken), the parts the record lacks are recorded with those ETags and
// ok is true: the finalizer then completes the record (its Complete finds NoSuchUpload and
// verifies the object as usual). The source is read again only when such an object exists.
func (h *Handlers) completedUnrecorded(ctx context.Context, j job, fence state.PartFence, buf []byte) (out state.PartOutcome, ok bool, err error) {
	opts, err := h.objectOptions(j)
	if err != nil {
		return out, false, nil
	}
	info, err := h.s3.StatObject(ctx, j.object(), opts)
	if err != nil || info.Size != j.u.Size || !strings.HasSuffix(info.ETag, "-"+strconv.Itoa(j.u.Parts)) || len(buf) == 0 {
		return out, false, nil
	}
	plan := storage.PartPlan{Size: j.u.Size, PartSize: j.u.PartSize, Parts: j.u.Parts}
	want := source.Info{Size: j.u.Size, Fingerprint: j.u.Fingerprint}
	parts := make([]storage.Part, j.u.Parts)
	md5s := make([]string, j.u.Parts)
	for n := 1; n <= j.u.Parts; n++ {
		off, length := plan.Part(n)
		sum := md5.New()
		for done := int64(0); done < length; {
			chunk := buf[:min(int64(len(buf)), length-done)]
			if err := h.readSource(ctx, j, want, off+done, chunk); err != nil {
				return out, false, err
			}
			sum.Write(chunk)
			done += int64(len(chunk))
		}
		md5s[n-1] = hex.EncodeToString(sum.Sum(nil))
		parts[n-1] = storage.Part{Number: n, Size: length, ETag: md5s[n-1], MD5: md5s[n-1]}
	}
	if etag, _ := storage.MultipartETag(md5s); etag != info.ETag {
		j.log.Info("VanishedUploadNotFound", "found_etag", info.ETag, "want_etag", etag)
		return out, false, nil
	}
	j.log.Warn("VanishedUploadCompleted", "reason", "the object under the key is the source's bytes, "+
		"completed by a finalizer whose records were lost (a Redis failover?)")
	for _, p := range parts {
		recorded, err := h.store.PartRecorded(ctx, j.u.ID, p.Number)
		if err != nil {
			return out, false, err
		}
		if recorded {
			continue // its own ETag stays: one recorded under another (encrypted) ETag is not changed
		}
		if out, err = h.store.RecordPart(ctx, j.u.ID, fence, p.Number, partRecord(p), p.Size); err != nil {
			return out, false, err
		}
		if out.Result != state.ResultRecorded && out.Result != state.ResultDuplicate {
			return out, true, nil // fenced, changed or moved on: afterRecord says what it means
		}
	}
	if out.Result == "" { // every part was recorded already
		out = state.PartOutcome{Result: state.ResultDuplicate, State: j.u.State, PartsDone: j.u.Parts, Parts: j.u.Parts}
	}
	return out, true, nil
}
