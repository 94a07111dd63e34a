package state

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestObjectOptionsMerge(t *testing.T) {
	t.Parallel()
	flags := ObjectOptions{SSE: "SSE-C", SSECKey: "k", StorageClass: "STANDARD_IA", Tags: map[string]string{"a": "1"},
		CacheControl: "max-age=60"}
	item := ObjectOptions{SSE: "aws:kms", ContentEncoding: "gzip", Tags: map[string]string{"b": "2"}}
	require.Equal(t, ObjectOptions{SSE: "aws:kms", StorageClass: "STANDARD_IA", Tags: map[string]string{"b": "2"},
		CacheControl: "max-age=60", ContentEncoding: "gzip"}, flags.Merge(item), "the item's SSE replaces the whole setting")
	require.Equal(t, flags, flags.Merge(ObjectOptions{}))
	require.True(t, ObjectOptions{}.IsZero())

	enc, err := encodeObjectOptions(ObjectOptions{})
	require.NoError(t, err)
	require.Empty(t, enc, "no field for uploads without options")
	enc, err = encodeObjectOptions(flags)
	require.NoError(t, err)
	dec, err := decodeObjectOptions(enc)
	require.NoError(t, err)
	require.Equal(t, flags, dec)
}
