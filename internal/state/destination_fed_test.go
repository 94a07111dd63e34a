package state_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/state"
)

// An older upload (another migration) made known when planned stays superseded after a newer
// fed upload of the same key wrote and gave back its lease: the shared key is kept.
func TestFedReleaseKeepsAnOlderUploadSuperseded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	now := time.Now()
	older := state.Upload{ID: state.UploadID{Migration: "m-a", Name: "0000000000000001"}, Bucket: "bkt", Key: "k", Created: now}
	newer := state.Upload{ID: state.UploadID{Migration: "m-b", Name: "0000000000000002"}, Bucket: "bkt", Key: "k",
		Created: now.Add(time.Millisecond), Fed: true}
	c, err := b.store.ClaimDestination(b.ctx, older, 0) // planned
	require.NoError(t, err)
	require.Equal(t, state.DestinationOK, c.Result)
	c, err = b.store.ClaimDestination(b.ctx, newer, time.Minute) // the newer one writes
	require.NoError(t, err)
	require.Equal(t, state.DestinationOK, c.Result)
	require.NoError(t, b.store.ReleaseDestination(b.ctx, newer))
	c, err = b.store.ClaimDestination(b.ctx, older, time.Minute) // the older one is about to write
	require.NoError(t, err)
	require.Equal(t, state.DestinationSuperseded, c.Result, "the older upload's bytes must not overwrite the newer object")
}
