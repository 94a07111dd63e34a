package monitor_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/monitor"
	"github.com/partflow/partflow/internal/state"
)

// TestMigrationPageCountsUploadsNeverStarted: a finished migration with one upload
// transferred and two that failed before their source was read says 100% of the planned
// bytes, and that two uploads never started (page and API).
func TestMigrationPageCountsUploadsNeverStarted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mid, ids := b.newMigration(t, 3)
	_, err := b.store.CompleteSingle(b.ctx, ids[0], 1, state.UploadPlan{Size: 1000, Fingerprint: "fp", PartSize: 5 << 20, Parts: 1}, "etag")
	require.NoError(t, err)
	for _, id := range ids[1:] {
		_, err := b.store.Fail(b.ctx, id, "source: no such file on the volume")
		require.NoError(t, err)
	}

	var d monitor.MigrationDetail
	decode(t, b.get(t, "/api/migrations/"+mid), &d)
	require.True(t, d.Migration.Finished)
	require.NotNil(t, d.Migration.UploadsStarted)
	require.NotNil(t, d.Migration.UploadsNotStarted)
	require.EqualValues(t, 1, *d.Migration.UploadsStarted)
	require.EqualValues(t, 2, *d.Migration.UploadsNotStarted)

	page := b.get(t, "/migrations/"+mid)
	require.Contains(t, page, "of the planned bytes transferred")
	require.NotContains(t, page, "100% transferred")
	require.Regexp(t, `<span data-bind="uploads_not_started">2</span> uploads never started: their sources were never read`, page)
}
