package tasks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/partflow/partflow/internal/state"
)

// ErrSuperseded is wrapped by the failure of an upload that a newer upload of the same bucket
// and key replaced before it wrote its object.
var ErrSuperseded = errors.New("superseded by a newer upload of the same key")

// errDestinationBusy is returned (and retried) while an older upload of the same key is
// writing its object.
var errDestinationBusy = errors.New("an older upload of the same key is writing it")

// Uploads of one bucket and key, from any migrations, are ordered by when they were created
// (state.ClaimDestination): the newest one's content is the one that stays. An upload makes
// itself known when it is planned and takes the key's write lease just before it writes the
// object (PutObject, CompleteMultipartUpload); an older upload that finds a newer one at
// either point stands down as failed, its reason naming the winner, and a newer upload that
// finds an older one writing waits for that write to end.

// checkDestination runs when an upload is planned: it fails an upload that a newer one of
// the same key superseded already.
func (h *Handlers) checkDestination(ctx context.Context, j job) error {
	c, err := h.store.ClaimDestination(ctx, j.u, 0)
	if err != nil {
		return h.retryOrGiveUp(ctx, j, err)
	}
	if c.Result == state.DestinationSuperseded {
		return h.fail(ctx, j, supersededError(j, c.By), false)
	}
	return nil
}

// holdDestination takes the key's write lease for lease before the object is written and
// returns the function that gives it back. A superseded upload is failed (its multipart
// upload aborted with abort); while an older upload writes, the error asks for a retry.
func (h *Handlers) holdDestination(ctx context.Context, j job, lease time.Duration, abort bool) (func(), error) {
	c, err := h.store.ClaimDestination(ctx, j.u, lease)
	if err != nil {
		return nil, h.retryOrGiveUp(ctx, j, err)
	}
	switch c.Result {
	case state.DestinationSuperseded:
		return nil, h.fail(ctx, j, supersededError(j, c.By), abort)
	case state.DestinationBusy:
		j.log.Info("DestinationBusy", "writer", c.By)
		return nil, h.retryOrGiveUp(ctx, j, fmt.Errorf("tasks: %s: upload %s: %w", j.object(), c.By, errDestinationBusy))
	}
	return func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := h.store.ReleaseDestination(rctx, j.u); err != nil {
			j.log.Warn("DestinationReleaseFailed", "error", err) // the lease lapses by itself
		}
	}, nil
}

func supersededError(j job, by string) error {
	return fmt.Errorf("tasks: %s: %w: upload %s won", j.object(), ErrSuperseded, by)
}
