package tasks

import (
	"context"
	"errors"
	"fmt"
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
// with the recorded parts, verify the object's ETag, and record completed with a second CAS.
func (h *Handlers) HandleFinalizeTask(ctx context.Context, t *asynq.Task) error {
	p, err := decode[UploadPayload](h, t)
	if err != nil {
		return err
	}
	j, err := h.load(ctx, t, p.UploadID)
	if err != nil {
		return err
	}
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
	parts := make([]storage.Part, len(recorded))
	etags := make([]string, len(recorded))
	for i, r := range recorded {
		parts[i] = storage.Part{Number: r.Number, ETag: r.ETag}
		etags[i] = r.ETag
	}
	want, err := storage.MultipartETag(etags)
	if err != nil {
		return h.fail(ctx, j, fmt.Errorf("recorded part ETags are not MD5s: %w", err), true)
	}

	releaseDest, err := h.holdDestination(ctx, j, CompleteTimeout(j.u.Size)+claimMargin, true)
	if err != nil {
		if !errors.Is(err, asynq.SkipRetry) {
			h.release(ctx, j, claim)
		}
		return err
	}
	defer releaseDest()
	etag, err := h.complete(ctx, j, parts, want)
	if err != nil {
		if !errors.Is(err, asynq.SkipRetry) {
			h.release(ctx, j, claim)
		}
		return err
	}
	out, err := h.store.Complete(ctx, j.u.ID, claim.Version, etag)
	if err != nil {
		// The object is complete in S3 but not recorded: hand the claim back so the retry
		// claims again at once and finds the object (NoSuchUpload or 200, then StatObject).
		h.release(ctx, j, claim)
		return err
	}
	if out.Result != state.OK {
		// Our claim lapsed and another finalizer moved on; it records the outcome.
		j.log.Warn("FinalizeSuperseded", "result", out.Result, "state", out.State)
		return nil
	}
	j.log.Info("UploadCompleted", "size", j.u.Size, "parts", j.u.Parts, "etag", etag)
	h.metrics.UploadFinished(string(state.Completed))
	_ = h.store.ForgetS3Upload(ctx, j.u.S3UploadID) // best effort: the janitor prunes it too
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
		c, err := h.store.ClaimComplete(ctx, j.u.ID, j.u.Version, CompleteTimeout(j.u.Size)+claimMargin)
		if err != nil {
			return nil, err
		}
		switch c.Result {
		case state.OK:
			j.claimed = c.Version // this run's failures move the upload under its claim
			return &c, nil
		case state.Claimed:
			return nil, claimedError{id: j.u.ID, until: c.Until}
		case state.Incomplete:
			return nil, fmt.Errorf("tasks: upload %s: finalizer ran with %d of %d parts recorded", j.u.ID, j.u.PartsDone, j.u.Parts)
		case state.Missing:
			return nil, nil
		}
		// Stale or WrongState: someone changed the upload since we read it; read it again.
		if j.u, err = h.store.Get(ctx, j.u.ID); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("tasks: upload %s keeps changing under the finalizer", j.u.ID)
}

// complete calls CompleteMultipartUpload and verifies the object. It returns the object's
// ETag, or the error for the task to return.
//
// The object is checked with StatObject (size and multipart ETag) in every case: after
// NoSuchUpload, because an earlier attempt may have completed it before dying (MinIO answers
// a repeated Complete that way); after success, because some servers (versitygw) answer 200
// to a Complete of an unknown upload ID whenever any object exists under the key.
func (h *Handlers) complete(ctx context.Context, j job, parts []storage.Part, want string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, CompleteTimeout(j.u.Size))
	defer cancel()
	etag, err := h.s3.CompleteUpload(cctx, j.object(), j.u.S3UploadID, parts)
	vanished := errors.Is(err, storage.ErrNoSuchUpload)
	switch {
	case vanished:
		j.log.Info("CompleteNoSuchUpload", "want_etag", want)
	case err != nil:
		return "", h.s3Error(ctx, j, fmt.Errorf("complete multipart upload: %w", err))
	case etag != want:
		return "", h.fail(ctx, j, fmt.Errorf("completed object has ETag %q, want %q: the parts S3 assembled are not the ones recorded",
			etag, want), false)
	}
	info, err := h.s3.StatObject(ctx, j.object())
	if err != nil && !errors.Is(err, storage.ErrNoSuchKey) {
		return "", h.s3Error(ctx, j, fmt.Errorf("verify completed object: %w", err))
	}
	if err != nil || info.Size != j.u.Size || info.ETag != want {
		what := "after Complete"
		if vanished {
			what = "the multipart upload is gone (NoSuchUpload) and"
		}
		return "", h.fail(ctx, j, fmt.Errorf("%s %s does not hold the assembled object (found size %d, ETag %q; want size %d, ETag %q)",
			what, j.object(), info.Size, info.ETag, j.u.Size, want), false)
	}
	return info.ETag, nil
}

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
