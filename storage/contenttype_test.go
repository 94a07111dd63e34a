package storage

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestContentTypeFor(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]string{
		"a/b.csv": "text/csv", "x.PARQUET": "application/vnd.apache.parquet", "d.json": "application/json",
		"e.ndjson": "application/x-ndjson", "v/clip.mp4": "video/mp4", "t.tar.gz": "application/gzip",
		"noext": DefaultContentType, "odd.unknownext": DefaultContentType, "dir.csv/file": DefaultContentType,
	} {
		require.Equal(t, want, ContentTypeFor(key), key)
	}
}
