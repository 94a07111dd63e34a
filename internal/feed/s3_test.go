package feed_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/feed"
	"github.com/partflow/partflow/internal/filter"
	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/testenv"
	"github.com/partflow/partflow/storage"
)

// TestS3ListingPagesAfterTheLastKey: an S3 prefix is listed in batches, each after the
// position (the last source key read) the one before returned; keys become the spec's
// bucket and prefix + the key below the source prefix; keys outside the prefix and those the
// filter drops are not listed; a listing opened again at a position goes on from there.
func TestS3ListingPagesAfterTheLastKey(t *testing.T) {
	t.Parallel()
	s3 := testenv.S3(t)
	bucket := testenv.Bucket(t, s3)
	c := testenv.MinioClient(t, s3.Endpoint, s3)
	store, err := storage.NewMinio(storage.Config{Endpoint: s3.Endpoint, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey,
		BucketLookup: "path", MaxRetries: 1})
	require.NoError(t, err)
	t.Cleanup(store.CloseIdleConnections)

	var want []string
	for i := range 23 {
		key := fmt.Sprintf("in/d%d/f-%02d.dat", i%3, i)
		if i%5 == 0 {
			key = fmt.Sprintf("in/d%d/f-%02d.skip", i%3, i)
		} else {
			want = append(want, "out/"+key[len("in/"):])
		}
		_, err := c.PutObject(t.Context(), bucket, key, bytes.NewReader([]byte(key)), int64(len(key)), minio.PutObjectOptions{})
		require.NoError(t, err)
	}
	for _, key := range []string{"in2/x.dat", "other/y.dat"} {
		_, err := c.PutObject(t.Context(), bucket, key, bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{})
		require.NoError(t, err)
	}
	flt, err := json.Marshal(filter.Config{Exclude: []string{"*.skip"}})
	require.NoError(t, err)
	spec := state.FeedSpec{Kind: feed.KindS3, Location: "s3://" + bucket + "/in/", Bucket: "dst", Prefix: "out/", Filter: flt}

	open := func() feed.Listing {
		l, err := feed.Mux{feed.KindS3: feed.S3{Store: store}}.Open(t.Context(), spec)
		require.NoError(t, err)
		t.Cleanup(func() { l.Close() })
		return l
	}
	var got []string
	pos, batches := "", 0
	for end := false; !end; batches++ {
		require.Less(t, batches, 20, "the listing ends")
		var items []feed.Item
		items, pos, end, err = open().List(t.Context(), pos, 4) // a fresh listing each time: a feeder restart
		require.NoError(t, err)
		require.LessOrEqual(t, len(items), 4)
		for _, it := range items {
			require.Equal(t, "dst", it.Bucket)
			loc, err := source.ParseS3(it.Source)
			require.NoError(t, err)
			require.Equal(t, bucket, loc.Bucket)
			require.Equal(t, "out/"+loc.Key[len("in/"):], it.Key, "the key below the source prefix, after the spec's prefix")
			require.Contains(t, it.Fingerprint, "etag=")
			got = append(got, it.Key)
		}
	}
	require.ElementsMatch(t, want, got, "every kept key once, none outside the prefix")
	require.Len(t, got, len(want), "no key listed twice")
	require.GreaterOrEqual(t, batches, 5, "the listing was read in batches")

	// A worker without a source store names the flag it needs.
	_, err = feed.Mux{}.Open(t.Context(), spec)
	require.ErrorContains(t, err, "--source-s3-endpoint")
	// A missing bucket is permanent (the feeder pauses the migration).
	spec.Location = "s3://no-such-bucket-here/in/"
	_, _, _, err = open().List(t.Context(), "", 4)
	require.True(t, source.Permanent(err), "a missing bucket: %v", err)
}
