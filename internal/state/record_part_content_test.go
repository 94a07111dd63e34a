package state_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/state"
)

// TestRecordPartSameBytesAnotherETagIsDuplicate: an encrypted bucket gives the same bytes a new
// ETag each time they are sent, so a part recorded twice (concurrent deliveries of its task) is
// compared by its md5= field, not its ETag: a duplicate, not a changed source.
func TestRecordPartSameBytesAnotherETagIsDuplicate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newUpload(t)
	b.startUploading(t, id, 2)

	md5 := " md5=0cc175b9c0f1b6a831c399e269772661 crc64nvme=AAAAAAAAAAA="
	out, err := b.store.RecordPart(b.ctx, id, b.fence(t, id), 1, "3f1a0e8d9c7b6a5f4e3d2c1b0a998877"+md5, 5)
	require.NoError(t, err)
	require.Equal(t, state.ResultRecorded, out.Result)
	out, err = b.store.RecordPart(b.ctx, id, b.fence(t, id), 1, "77889a0b1c2d3e4f5a6b7c8d9e0a1f3f"+md5, 5)
	require.NoError(t, err)
	require.Equal(t, state.ResultDuplicate, out.Result, "same md5, another ETag")
	require.Equal(t, 1, out.PartsDone)

	out, err = b.store.RecordPart(b.ctx, id, b.fence(t, id), 1, "77889a0b1c2d3e4f5a6b7c8d9e0a1f3f md5=92eb5ffee6ae2fec3ad71c777531578f", 5)
	require.NoError(t, err)
	require.Equal(t, state.ResultChanged, out.Result, "another md5 is another content")
}
