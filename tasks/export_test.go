package tasks

import (
	"time"

	"github.com/partflow/partflow/internal/state"
)

// NewClaimedError builds the error a finalizer returns while another holds the claim.
func NewClaimedError(until time.Time) error {
	return claimedError{id: state.UploadID{Migration: "m", Name: "0123456789abcdef"}, until: until}
}
