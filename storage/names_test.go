package storage_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/storage"
)

func TestValidateBucket(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"pf-bucket", "abc", "a.b-c", strings.Repeat("a", 63)} {
		require.NoError(t, storage.ValidateBucket(ok), ok)
	}
	for _, bad := range []string{"", "ab", "Bad_Bucket", "-x-", strings.Repeat("a", 64), "192.168.1.1", "a..b"} {
		err := storage.ValidateBucket(bad)
		require.ErrorIs(t, err, storage.ErrInvalidBucketName, bad)
		require.Contains(t, err.Error(), "invalid bucket name", bad)
	}
	require.ErrorIs(t, storage.ValidateObject(storage.Object{Bucket: "Bad_Bucket", Key: "k"}), storage.ErrInvalidBucketName,
		"ValidateObject checks the bucket the same way")
}
