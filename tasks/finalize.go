package tasks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/storage"
)

// claimMargin is added to the Complete timeout for the finalizer's claim, so a claim never
// lapses while its holder may still be waiting for CompleteMultipartUpload.
const claimMargin = 30 * time.Second

// errClaimed asks asynq to run the finalizer again later: another finalizer holds the claim.
var errClaimed = errors.New("another finalizer holds the upload")

// claimedError is errClaimed with the time the claim lapses. RetryDelay waits until then, so
// a finalizer waiting on a long claim (a big object's Complete) spends one retry, not its
// whole budget.
type claimedError struct {
	id    state.UploadID
	until time.Time
}

func (e claimedError) Error() string {
	return fmt.Sprintf("tasks: upload %s: %v until %s", e.id, errClaimed, e.until.Format(time.RFC3339))
}

func (e claimedError) Is(target error) bool { return target == errClaimed }

// waitUntil is when the retry should run: just after the claim lapses.
func (e claimedError) waitUntil() time.Time { return e.until.Add(time.Second) }

// HandleFinalizeTask completes the multipart upload exactly once (see the design's CAS
// protocol): claim the upload with a version compare-and-swap, call CompleteMultipartUpload
// with the recorded parts, verify the object (size plus checksum or multipart ETag, see
// verify), and record completed with a second CAS.
func (h *Handlers) HandleFinalizeTask(ctx context.Context, t *asynq.Task) error {
	p, err := decode[UploadPayload](h, t)
	if err != nil {
		return err
	}
	j, err := h.load(ctx, t, p.UploadID)
	if err != nil {
		return err
	}
	return h.finalize(ctx, j)
}

// finalize is the finalizer's work on j's upload, run by upload:finalize or inline by the part
// that completed the set (see finalizeInline).
func (h *Handlers) finalize(ctx context.Context, j job) error {
	claim, err := h.claim(ctx, &j)
	if err != nil {
		if errors.Is(err, errClaimed) {
			j.log.Info("FinalizeWaiting", "reason", err)
			return err
		}
		return h.retryOrGiveUp(ctx, j, err)
	}
	if claim == nil {
		return nil // nothing left to do
	}

	recorded, err := h.store.PartETags(ctx, j.u.ID)
	if err != nil {
		h.release(ctx, j, claim)
		return err
	}
	plan := storage.PartPlan{Size: j.u.Size, PartSize: j.u.PartSize, Parts: j.u.Parts}
	parts := make([]storage.Part, len(recorded))
	for i, r := range recorded {
		_, length := plan.Part(r.Number)
		parts[i] = parsePartRecord(r.Number, length, r.ETag)
	}
	opts, err := h.objectOptions(j)
	if err != nil {
		return h.fail(ctx, j, err, false)
	}

	releaseDest, err := h.holdDestination(ctx, j, h.completeTimeoutFor(j.u.Size)+claimMargin, true)
	if err != nil {
		if !errors.Is(err, asynq.SkipRetry) {
			h.release(ctx, j, claim)
		}
		return err
	}
	defer releaseDest()
	etag, err := h.complete(ctx, j, claim, parts, opts)
	if err != nil {
		return err // complete released the claim if, and only if, that was safe
	}
	out, err := h.store.Complete(ctx, j.u.ID, claim.Version, etag)
	if err != nil {
		// The object is complete in S3 but not recorded: hand the claim back so the retry
		// claims again at once and finds the object (NoSuchUpload or 200, then StatObject).
		h.release(ctx, j, claim)
		return err
	}
	if out.Result != state.ResultOK {
		// Our claim lapsed and another finalizer moved on; it records the outcome.
		j.log.Warn("FinalizeSuperseded", "result", out.Result, "state", out.State)
		return nil
	}
	j.log.Info("UploadCompleted", "size", j.u.Size, "parts", j.u.Parts, "etag", etag)
	h.metrics.UploadFinished(string(state.Completed))
	_ = h.store.ForgetS3Upload(ctx, j.u.S3UploadID) // best effort: the janitor prunes it too
	h.reportIfFinished(ctx, j, out)
	return nil
}

// claim takes the upload for completion. It returns nil, nil when nothing is left to do
// (completed, failed, cancelled) and errClaimed while another finalizer holds it.
func (h *Handlers) claim(ctx context.Context, j *job) (*state.Claim, error) {
	for range 3 {
		switch j.u.State {
		case state.Uploading, state.Completing:
		case state.Planned:
			return nil, fmt.Errorf("tasks: finalizer ran before upload %s was planned", j.u.ID)
		default:
			return nil, nil
		}
		c, err := h.store.ClaimComplete(ctx, j.u.ID, j.u.Version, h.completeTimeoutFor(j.u.Size)+claimMargin)
		if err != nil {
			return nil, err
		}
		switch c.Result {
		case state.ResultOK:
			j.claimed = c.Version // this run's failures move the upload under its claim
			return &c, nil
		case state.ResultClaimed:
			return nil, claimedError{id: j.u.ID, until: c.Until}
		case state.ResultIncomplete:
			return nil, fmt.Errorf("tasks: upload %s: finalizer ran with %d of %d parts recorded", j.u.ID, j.u.PartsDone, j.u.Parts)
		case state.ResultMissing:
			return nil, nil
		}
		// Stale or WrongState: someone changed the upload since we read it; read it again.
		if j.u, err = h.store.GetUpload(ctx, j.u.ID); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("tasks: upload %s keeps changing under the finalizer", j.u.ID)
}

// complete calls CompleteMultipartUpload and verifies the object (see verify). It returns
// the object's ETag, or the error for the task to return.
//
// The object is checked with StatObject in every case: after success, because some servers
// (versitygw) answer 200 to a Complete of an unknown upload ID whenever any object exists
// under the key; after NoSuchUpload, because an earlier attempt may have completed it before
// dying (MinIO and AWS answer a repeated Complete that way); after an ambiguous outcome (the
// call timed out, was cancelled or lost its connection), because the server may have
// completed it, or may still be doing so. Where the object may still appear, StatObject is
// polled with a bounded backoff (verifyFor) before deciding. After a Complete without an
// answer the claim is kept, never released: the server may still be assembling the object, and another
// finalizer must not find NoSuchUpload before the object is visible. The retry waits for the
// claim to lapse.
func (h *Handlers) complete(ctx context.Context, j job, claim *state.Claim, parts []storage.Part, opts storage.ObjectOptions) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, h.completeTimeoutFor(j.u.Size))
	_, err := h.s3.CompleteUpload(cctx, j.object(), j.u.S3UploadID, parts, opts)
	cancel()
	if errors.Is(err, storage.ErrInvalidPart) {
		// On encrypted buckets the same bytes get a new ETag each time they are sent, and a
		// part sent twice (a redelivered task) keeps the ETag of the last upload, which may
		// not be the one recorded. Take the ETags S3 lists for parts of the recorded size
		// (and checksum), once.
		if fixed, ok := h.currentETags(ctx, j, parts); ok {
			parts = fixed
			cctx, cancel := context.WithTimeout(ctx, h.completeTimeoutFor(j.u.Size))
			_, err = h.s3.CompleteUpload(cctx, j.object(), j.u.S3UploadID, parts, opts)
			cancel()
		}
	}
	var what string
	switch {
	case err == nil:
		what = "after Complete"
	case errors.Is(err, storage.ErrNoSuchUpload):
		j.log.Info("CompleteNoSuchUpload")
		what = "the multipart upload is gone (NoSuchUpload) and"
	case unanswered(err):
		if ctx.Err() != nil {
			return "", ctx.Err() // the task itself is over: keep the claim, the retry verifies
		}
		j.log.Warn("CompleteUnanswered", "error", err)
		if info, found := h.verify(ctx, j, parts, opts, true); found {
			return info.ETag, nil
		}
		// Keep the claim: the Complete may still be running on the server.
		return "", h.retryOrGiveUp(ctx, j, fmt.Errorf("complete multipart upload: no answer, and the object "+
			"did not appear; retrying once the claim lapses: %w", err))
	default:
		if status, _ := storage.ErrorStatus(err); status >= 500 {
			// A server error may come after the server completed the upload: look once.
			if info, found := h.verify(ctx, j, parts, opts, false); found {
				return info.ETag, nil
			}
		}
		// The server answered, and the object is not there: safe to hand the claim back.
		if !storage.Permanent(err) {
			h.release(ctx, j, claim)
		}
		return "", h.s3Error(ctx, j, fmt.Errorf("complete multipart upload: %w", err))
	}
	info, found := h.verify(ctx, j, parts, opts, err != nil)
	if found {
		return info.ETag, nil
	}
	if info.err != nil {
		if ctx.Err() == nil {
			h.release(ctx, j, claim)
		}
		return "", h.s3Error(ctx, j, fmt.Errorf("verify completed object: %w", info.err))
	}
	return "", h.fail(ctx, j, fmt.Errorf("%s %s does not hold the assembled object (%s)", what, j.object(), info.detail), false)
}

// unanswered reports whether a Complete got no answer (it timed out, was cancelled or lost its
// connection): the server may have completed the upload, or may still be doing so.
func unanswered(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	_, answered := storage.ErrorStatus(err)
	return !answered
}

// verified is what verify found: the object, or why it does not match (detail), or the
// error that kept it from looking (err).
type verified struct {
	storage.ObjectInfo
	detail string
	err    error
}

// verify checks that the object under the key is the one the parts make: its size, plus its
// full-object CRC-64/NVME when the parts and the server have one, or else its multipart ETag
// (md5 of the part MD5s + "-N") when every part's ETag was its MD5. When the parts give
// neither (an encrypted bucket that refused checksums), the size decides. With poll, a
// missing or different object is looked at again with a growing delay for up to verifyFor.
func (h *Handlers) verify(ctx context.Context, j job, parts []storage.Part, opts storage.ObjectOptions, poll bool) (verified, bool) {
	wantCRC, haveCRC := storage.FullObjectCRC64NVME(parts)
	wantETag := ""
	etags := make([]string, 0, len(parts))
	for _, p := range parts {
		if !p.ETagIsMD5() {
			etags = nil
			break
		}
		etags = append(etags, p.ETag)
	}
	if len(etags) == len(parts) {
		wantETag, _ = storage.MultipartETag(etags)
	}
	deadline := time.Now().Add(h.verifyFor())
	delay := 250 * time.Millisecond
	for {
		info, err := h.s3.StatObject(ctx, j.object(), opts)
		v := verified{ObjectInfo: info}
		switch {
		case errors.Is(err, storage.ErrNoSuchKey):
			v.detail = "no object"
		case err != nil:
			v.err = err
		case info.Size != j.u.Size:
			v.detail = fmt.Sprintf("found size %d, want %d", info.Size, j.u.Size)
		case haveCRC && info.CRC64NVME != "" && info.ChecksumType != "COMPOSITE" && !strings.Contains(info.CRC64NVME, "-"):
			// A full-object checksum (a composite one, "…-N", would depend on the part size).
			if info.CRC64NVME != wantCRC {
				v.detail = fmt.Sprintf("found CRC64NVME %s, want %s", info.CRC64NVME, wantCRC)
			} else {
				j.log.Debug("ObjectVerified", "by", "size+crc64nvme")
				return v, true
			}
		case wantETag != "":
			if info.ETag != wantETag {
				v.detail = fmt.Sprintf("found ETag %q, want %q", info.ETag, wantETag)
			} else {
				j.log.Debug("ObjectVerified", "by", "size+etag")
				return v, true
			}
		default:
			j.log.Info("ObjectVerified", "by", "size", "reason", "no checksum and opaque part ETags")
			return v, true
		}
		if v.err != nil || !poll || time.Now().Add(delay).After(deadline) {
			return v, false
		}
		j.log.Info("VerifyWaiting", "found", v.detail, "delay", delay)
		select {
		case <-ctx.Done():
			v.err = ctx.Err()
			return v, false
		case <-time.After(delay):
		}
		delay = min(2*delay, 4*time.Second)
	}
}

// currentETags returns parts with the ETags S3 lists for them, when every part is listed with
// its recorded size (and its recorded checksum, where both have one) and some part's ETag is
// not its MD5 (otherwise the recorded ETags are the right ones). It reports false otherwise.
func (h *Handlers) currentETags(ctx context.Context, j job, parts []storage.Part) ([]storage.Part, bool) {
	opaque := false
	for _, p := range parts {
		opaque = opaque || !p.ETagIsMD5()
	}
	if !opaque {
		return nil, false
	}
	listed, err := h.s3.ListParts(ctx, j.object(), j.u.S3UploadID)
	if err != nil {
		return nil, false
	}
	byNumber := make(map[int]storage.Part, len(listed))
	for _, p := range listed {
		byNumber[p.Number] = p
	}
	out := make([]storage.Part, len(parts))
	changed := false
	for i, p := range parts {
		l, ok := byNumber[p.Number]
		if !ok || l.Size != p.Size || (l.CRC64NVME != "" && p.CRC64NVME != "" && l.CRC64NVME != p.CRC64NVME) {
			return nil, false
		}
		changed = changed || l.ETag != p.ETag
		p.ETag = l.ETag
		out[i] = p
	}
	if changed {
		j.log.Info("PartETagsRefreshed")
	}
	return out, changed
}

// completeTimeoutFor is how long one CompleteMultipartUpload may take for size bytes.
func (h *Handlers) completeTimeoutFor(size int64) time.Duration {
	if h.completeTimeout > 0 {
		return h.completeTimeout
	}
	return CompleteTimeout(size)
}

// verifyFor bounds how long a finalizer polls StatObject for an object whose Complete had an
// unclear outcome. It stays below claimMargin, so the claim outlives the polling.
func (h *Handlers) verifyFor() time.Duration { return claimMargin * 2 / 3 }

// release gives up the claim after a failed attempt, so the retry can claim again at once
// instead of waiting for the claim to lapse. It is a CAS too: if the claim was taken over
// meanwhile, nothing changes.
func (h *Handlers) release(ctx context.Context, j job, c *state.Claim) {
	out, err := h.store.Transition(context.WithoutCancel(ctx), j.u.ID, c.Version, []state.State{state.Completing}, state.Uploading)
	if err != nil {
		j.log.Warn("ReleaseFailed", "error", err) // the claim lapses by itself
		return
	}
	j.log.Debug("ClaimReleased", "result", out.Result)
}
