package tasks

import (
	"context"
	"fmt"

	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/storage"
)

// held reports whether j's migration is paused: then the task leaves the upload exactly as
// it is (no retry is spent; the task ends) and `resume` re-enqueues what is missing. It
// also notes the migration's bandwidth cap on j.
func (h *Handlers) held(ctx context.Context, j *job) (bool, error) {
	g, err := h.store.MigrationGate(ctx, j.u.ID.Migration)
	if err != nil {
		return false, err
	}
	if g.Paused {
		j.log.Info("TaskHeld", "task", j.task, "migration", j.u.ID.Migration, "reason", g.Reason)
	}
	j.bandwidth = g.BandwidthLimit
	return g.Paused, nil
}

// maxBandwidthCaches bounds how many migrations' bandwidth limiters a worker keeps.
const maxBandwidthCaches = 64

// sendLimits returns ctx carrying the fleet-wide bandwidth caps that apply to j's request
// bodies: the fleet's (Config.FleetBandwidth) and its migration's (migrate --bwlimit).
func (h *Handlers) sendLimits(ctx context.Context, j job) context.Context {
	if h.fleet != nil {
		ctx = storage.WithLimiter(ctx, h.fleet)
	}
	if j.bandwidth <= 0 {
		return ctx
	}
	h.bwMu.Lock()
	b := h.bw[j.u.ID.Migration]
	if b == nil || b.Rate() != j.bandwidth {
		if len(h.bw) >= maxBandwidthCaches {
			clear(h.bw)
		}
		b = h.store.MigrationBandwidth(j.u.ID.Migration, j.bandwidth)
		h.bw[j.u.ID.Migration] = b
	}
	h.bwMu.Unlock()
	return storage.WithLimiter(ctx, b)
}

// pauseForDestination pauses j's migration after an error that will fail every upload to its
// destination (storage.DestinationWide): spending every upload's retries on it would take
// hours and tell nothing new. The upload is left as it is, for resume.
func (h *Handlers) pauseForDestination(ctx context.Context, j job, cause error) error {
	reason := fmt.Sprintf("destination error on %s/%s: %v", j.u.Bucket, j.u.Key, cause)
	first, err := h.store.PauseMigration(context.WithoutCancel(ctx), j.u.ID.Migration, reason)
	if err != nil {
		return fmt.Errorf("tasks: pause migration after %w: %w", cause, err)
	}
	if first {
		j.log.Error("MigrationPaused", "migration", j.u.ID.Migration, "reason", reason)
	}
	return nil
}

// countAttempt counts a failed attempt on the upload for its report (best effort).
func (h *Handlers) countAttempt(ctx context.Context, id state.UploadID) {
	if err := h.store.CountAttempt(context.WithoutCancel(ctx), id); err != nil {
		h.log.Warn("AttemptNotCounted", "upload_id", id.String(), "error", err)
	}
}
