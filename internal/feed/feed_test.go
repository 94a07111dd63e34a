package feed_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/feed"
	"github.com/partflow/partflow/internal/state"
)

// TestFeedFileListsAfterAPosition: a feed file written on the volume is listed in batches,
// each from the position the last one returned, and says when it ends; an identical file
// gets the same name.
func TestFeedFileListsAfterAPosition(t *testing.T) {
	t.Parallel()
	root, err := os.OpenRoot(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { root.Close() })
	write := func() string {
		w, err := feed.NewWriter(root)
		require.NoError(t, err)
		for _, k := range []string{"a", "b", "c"} {
			require.NoError(t, w.Add(feed.Item{Source: "src/" + k, Bucket: "bkt", Key: k, Fingerprint: "fp-" + k}))
		}
		name, err := w.Commit()
		require.NoError(t, err)
		return name
	}
	name := write()
	require.Equal(t, name, write(), "named by its content")

	l, err := feed.Volume{Root: root}.Open(t.Context(), state.FeedSpec{Kind: feed.KindFile, Location: name})
	require.NoError(t, err)
	defer l.Close()
	items, pos, end, err := l.List(t.Context(), "", 2)
	require.NoError(t, err)
	require.False(t, end)
	require.Equal(t, []string{"a", "b"}, []string{items[0].Key, items[1].Key})
	items, pos2, end, err := l.List(t.Context(), pos, 2)
	require.NoError(t, err)
	require.True(t, end, "the listing ends after c")
	require.Len(t, items, 1)
	require.Equal(t, "c", items[0].Key)
	require.Equal(t, "fp-c", items[0].Fingerprint)
	items, _, end, err = l.List(t.Context(), pos2, 2)
	require.NoError(t, err)
	require.True(t, end)
	require.Empty(t, items)

	_, _, _, err = l.List(t.Context(), "garbage", 1)
	require.Error(t, err)
}
