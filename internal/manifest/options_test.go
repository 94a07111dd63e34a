package manifest_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/manifest"
)

func TestParseLineObjectOptions(t *testing.T) {
	t.Parallel()
	it, err := manifest.ParseLine(3, []byte(`{"source":"a.csv","key":"a.csv","sse":"SSE-C","sse_c_key":"team-key",`+
		`"storage_class":"STANDARD_IA","tags":{"team":"data"},"cache_control":"no-cache","content_encoding":"gzip",`+
		`"content_disposition":"attachment"}`))
	require.NoError(t, err)
	require.Equal(t, client.ObjectOptions{SSE: "SSE-C", SSECKey: "team-key", StorageClass: "STANDARD_IA",
		Tags: map[string]string{"team": "data"}, CacheControl: "no-cache", ContentEncoding: "gzip",
		ContentDisposition: "attachment"}, it.Options)

	_, err = manifest.ParseLine(4, []byte(`{"source":"a","key":"a","sse_c_key_bytes":"x"}`))
	require.Error(t, err, "unknown fields stay invalid")
}
