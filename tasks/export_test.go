package tasks

import (
	"time"

	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/storage"
)

// NewClaimedError builds the error a finalizer returns while another holds the claim.
func NewClaimedError(until time.Time) error {
	return claimedError{id: state.UploadID{Migration: "m", Name: "0123456789abcdef"}, until: until}
}

// SetCompleteTimeout makes every CompleteMultipartUpload of h time out after d.
func (h *Handlers) SetCompleteTimeout(d time.Duration) { h.completeTimeout = d }

// ParsePartRecord decodes a recorded part as the finalizer does.
func ParsePartRecord(n int, size int64, v string) storage.Part { return parsePartRecord(n, size, v) }
