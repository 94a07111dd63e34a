package client_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/state"
)

// Migrate refuses items that repeat a key (also without Plan first) and enqueues nothing; with
// DedupeLast it uploads the last item of each key only.
func TestMigrateDuplicateKeys(t *testing.T) {
	t.Parallel()
	b := setup(t)
	items := client.ItemsOf(
		client.MigrationItem{Source: "a", Key: "k1", Where: "line 1"},
		client.MigrationItem{Source: "b", Key: "k2", Where: "line 2"},
		client.MigrationItem{Source: "c", Key: "k1", Where: "line 3"},
		client.MigrationItem{Source: "b", Key: "k2", Where: "line 4"}, // the same item again: harmless, still refused
	)
	var reported []string
	_, err := b.pf.Migrate(b.ctx, client.MigrateRequest{ID: "dups", Bucket: "bkt", Items: items,
		OnInvalid: func(err error) { reported = append(reported, err.Error()) }})
	require.ErrorIs(t, err, client.ErrInvalid)
	require.Contains(t, err.Error(), "2 items name a key")
	require.Equal(t, []string{"line 3: key listed more than once: bkt/k1 is named by an earlier item too",
		"line 4: key listed more than once: bkt/k2 is named by an earlier item too"}, reported)
	_, err = b.store.GetMigration(b.ctx, "dups")
	require.ErrorIs(t, err, state.ErrNotFound, "nothing was written")

	res, err := b.pf.Migrate(b.ctx, client.MigrateRequest{ID: "dups", Bucket: "bkt", Items: items, Dedupe: client.DedupeLast})
	require.NoError(t, err)
	require.EqualValues(t, 1, res.Deduped, "the first k1 was left out")
	require.EqualValues(t, 2, res.Created)
	m, err := b.store.GetMigration(b.ctx, "dups")
	require.NoError(t, err)
	require.EqualValues(t, 2, m.Total)
	u, err := b.store.GetUpload(b.ctx, state.DeriveUploadID("dups", "bkt", "k1", "c"))
	require.NoError(t, err)
	require.Equal(t, "c", u.Source, "the last item of k1 won")
	_, err = b.store.GetUpload(b.ctx, state.DeriveUploadID("dups", "bkt", "k1", "a"))
	require.ErrorIs(t, err, state.ErrNotFound)
}
