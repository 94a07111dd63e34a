package tasks

import (
	"context"
	"errors"
	"fmt"

	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/storage"
)

// reconcile brings an uploading upload's record in line with S3 and enqueues what is missing.
// A part that S3 holds with the planned size but Redis does not know (its task died between
// uploading and recording) is recorded instead of uploaded again. When the multipart upload
// is gone (aborted after a failure), the upload starts over from planning.
func (h *Handlers) reconcile(ctx context.Context, j job) error {
	inS3, err := h.s3.ListParts(ctx, j.object(), j.u.S3UploadID)
	if errors.Is(err, storage.ErrNoSuchUpload) {
		out, err := h.store.ResetUpload(ctx, j.u.ID, j.u.Version, state.Uploading)
		if err != nil {
			return err
		}
		if out.Result != state.ResultOK {
			return fmt.Errorf("tasks: upload %s changed while restarting it (%s); retrying", j.u.ID, out.Result)
		}
		j.log.Info("UploadRestarted", "reason", "multipart upload no longer exists in S3")
		if j.u, err = h.store.GetUpload(ctx, j.u.ID); err != nil {
			return err
		}
		return h.plan(ctx, j)
	}
	if err != nil {
		return h.s3Error(ctx, j, fmt.Errorf("list parts: %w", err))
	}
	recorded, err := h.store.PartETags(ctx, j.u.ID)
	if err != nil {
		return err
	}
	known := make(map[int]bool, len(recorded))
	for _, p := range recorded {
		known[p.Number] = true
	}
	plan := storage.PartPlan{Size: j.u.Size, PartSize: j.u.PartSize, Parts: j.u.Parts}
	adopted := 0
	for _, p := range inS3 {
		if known[p.Number] || p.Number < 1 || p.Number > j.u.Parts {
			continue
		}
		if _, length := plan.Part(p.Number); p.Size != length {
			continue // a torn or foreign part: upload it again
		}
		out, err := h.store.RecordPart(ctx, j.u.ID, j.u.Fence(), p.Number, partRecord(p), p.Size)
		if err != nil {
			return err
		}
		if out.Result == state.ResultRecorded {
			adopted++
		}
	}
	if adopted > 0 {
		j.log.Info("PartsAdopted", "parts", adopted)
		if j.u, err = h.store.GetUpload(ctx, j.u.ID); err != nil {
			return err
		}
	}
	return h.enqueueParts(ctx, j)
}
