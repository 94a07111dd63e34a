package tasks

import (
	"context"
	"time"

	"github.com/hibiken/asynq"

	"github.com/partflow/partflow/internal/state"
)

// NewAbortTask returns the upload:abort task that discards a cancelled upload's multipart
// upload in S3 (the enqueuer that cancels has no S3 credentials).
func NewAbortTask(id state.UploadID) *asynq.Task {
	return asynq.NewTask(TypeAbort, mustJSON(UploadPayload{UploadID: id.String()}),
		asynq.TaskID(AbortTaskID(id)), asynq.Queue(QueueHigh), asynq.MaxRetry(StartRetries),
		asynq.Timeout(time.Minute))
}

// HandleAbortTask aborts the multipart upload of a cancelled upload. It does nothing for an
// upload in any other state.
func (h *Handlers) HandleAbortTask(ctx context.Context, t *asynq.Task) error {
	p, err := decode[UploadPayload](h, t)
	if err != nil {
		return err
	}
	j, err := h.load(ctx, t, p.UploadID)
	if err != nil {
		return err
	}
	if j.u.State != state.Cancelled {
		return nil
	}
	h.abort(ctx, j)
	return nil
}
