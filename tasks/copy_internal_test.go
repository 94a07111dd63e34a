package tasks

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/storage"
)

// An S3 source's properties fill what the upload leaves empty; the upload's own win (content
// type, metadata key by key, tags as a whole).
func TestWithSourceProps(t *testing.T) {
	t.Parallel()
	props := &source.Props{ContentType: "text/csv", Metadata: map[string]string{"owner": "src", "team": "src"},
		CacheControl: "max-age=60", Tags: map[string]string{"tier": "gold"}}

	got := withSourceProps(storage.ObjectOptions{}, props, "a.bin")
	require.Equal(t, storage.ObjectOptions{ContentType: "text/csv", Metadata: map[string]string{"owner": "src", "team": "src"},
		CacheControl: "max-age=60", Tags: map[string]string{"tier": "gold"}}, got)

	own := storage.ObjectOptions{ContentType: "text/plain", Metadata: map[string]string{"team": "line"},
		CacheControl: "no-cache", Tags: map[string]string{"k": "v"}}
	got = withSourceProps(own, props, "a.bin")
	require.Equal(t, "text/plain", got.ContentType)
	require.Equal(t, map[string]string{"owner": "src", "team": "line"}, got.Metadata)
	require.Equal(t, "no-cache", got.CacheControl)
	require.Equal(t, map[string]string{"k": "v"}, got.Tags)
	require.Equal(t, map[string]string{"owner": "src", "team": "src"}, props.Metadata, "the source's map is not changed")

	require.Equal(t, "application/json", withSourceProps(storage.ObjectOptions{}, &source.Props{}, "x.json").ContentType,
		"no type from either: the key's extension")
	require.Equal(t, storage.ObjectOptions{}, withSourceProps(storage.ObjectOptions{}, nil, "x.json"), "not an S3 source")
}
