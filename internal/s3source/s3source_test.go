package s3source_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/s3source"
	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/testenv"
	"github.com/partflow/partflow/storage"
)

// setup starts a versitygw with one bucket and returns a direct client, the bucket and a
// Reader on it.
func setup(t *testing.T, copyTags bool) (*minio.Client, string, *storage.Minio, *s3source.Reader) {
	t.Helper()
	s3 := testenv.S3(t)
	bucket := testenv.Bucket(t, s3)
	store, err := storage.NewMinio(storage.Config{Endpoint: s3.Endpoint, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey,
		BucketLookup: "path", MaxRetries: 1})
	require.NoError(t, err)
	t.Cleanup(store.CloseIdleConnections)
	r, err := s3source.New(s3source.Config{Store: store, CopyTags: copyTags})
	require.NoError(t, err)
	return testenv.MinioClient(t, s3.Endpoint, s3), bucket, store, r
}

func put(t *testing.T, c *minio.Client, bucket, key string, body []byte, opts minio.PutObjectOptions) {
	t.Helper()
	_, err := c.PutObject(t.Context(), bucket, key, bytes.NewReader(body), int64(len(body)), opts)
	require.NoError(t, err)
}

// Stat reads size, ETag, content type, metadata (and tags); ReadAt reads ranges of that
// version; an overwritten object is ErrChanged, a deleted one ErrNotFound, both permanent.
func TestReaderPinsTheVersionSeenAtStat(t *testing.T) {
	t.Parallel()
	c, bucket, _, r := setup(t, true)
	body := []byte("0123456789abcdefghij")
	put(t, c, bucket, "dir/a.txt", body, minio.PutObjectOptions{ContentType: "text/x-test",
		UserMetadata: map[string]string{"Origin": "here"}, UserTags: map[string]string{"tier": "gold"}})
	src := "s3://" + bucket + "/dir/a.txt"

	info, err := r.Stat(t.Context(), src)
	require.NoError(t, err)
	require.Equal(t, int64(len(body)), info.Size)
	require.Equal(t, "text/x-test", info.Props.ContentType)
	require.Equal(t, "here", info.Props.Metadata["origin"])
	require.Equal(t, map[string]string{"tier": "gold"}, info.Props.Tags)

	buf := make([]byte, 5)
	require.NoError(t, r.ReadAt(t.Context(), src, info, 10, buf))
	require.Equal(t, "abcde", string(buf))
	require.ErrorIs(t, r.ReadAt(t.Context(), src, info, 18, buf), source.ErrShort, "a range past the planned size")

	put(t, c, bucket, "dir/a.txt", []byte("ABCDEFGHIJKLMNOPQRST"), minio.PutObjectOptions{})
	err = r.ReadAt(t.Context(), src, info, 0, buf)
	require.ErrorIs(t, err, source.ErrChanged, "same size, new content: If-Match refuses it")
	require.True(t, source.Permanent(err))

	require.NoError(t, c.RemoveObject(t.Context(), bucket, "dir/a.txt", minio.RemoveObjectOptions{}))
	_, err = r.Stat(t.Context(), src)
	require.ErrorIs(t, err, source.ErrNotFound)
	_, err = r.Stat(t.Context(), "s3://no-such-bucket-pf/x")
	require.ErrorIs(t, err, source.ErrNotFound)
}

// The lister walks a prefix page by page in key order, leaves folder markers out and resumes
// after the last key it handed out.
func TestListerResumesAfterAKey(t *testing.T) {
	t.Parallel()
	c, bucket, store, _ := setup(t, false)
	var want []string
	for i := range 25 {
		key := fmt.Sprintf("p/%02d", i)
		put(t, c, bucket, key, []byte(key), minio.PutObjectOptions{})
		want = append(want, key[2:])
	}
	put(t, c, bucket, "p/folder/", nil, minio.PutObjectOptions{})
	put(t, c, bucket, "other", []byte("x"), minio.PutObjectOptions{})

	l, err := s3source.NewLister(store, "s3://"+bucket+"/p/", 4)
	require.NoError(t, err)
	var got []string
	for e, err := range l.List(t.Context(), "") {
		require.NoError(t, err)
		require.Equal(t, "s3://"+bucket+"/p/"+e.Key, e.Source)
		require.Equal(t, int64(len("p/"+e.Key)), e.Size)
		got = append(got, e.Key)
		if len(got) == 10 {
			break
		}
	}
	for e, err := range l.List(t.Context(), got[len(got)-1]) {
		require.NoError(t, err)
		got = append(got, e.Key)
	}
	require.Equal(t, want, got)

	// In batches, as a feeder checkpoints them: 10, 10, 5 and the end.
	got = nil
	cursor, end := "", false
	for !end {
		var page []s3source.Entry
		page, cursor, end, err = l.Page(t.Context(), cursor, 10)
		require.NoError(t, err)
		for _, e := range page {
			got = append(got, e.Key)
		}
	}
	require.Equal(t, want, got)

	l, err = s3source.NewLister(store, "s3://no-such-bucket-pf/", 0)
	require.NoError(t, err)
	for _, err := range l.List(t.Context(), "") {
		require.ErrorIs(t, err, source.ErrNotFound)
	}
}

// A source store answering 5xx is retried (not permanent), and the read goes through once it
// answers again.
func TestReaderRetriesServerErrors(t *testing.T) {
	t.Parallel()
	s3 := testenv.S3(t)
	bucket := testenv.Bucket(t, s3)
	proxy := testenv.NewProxy(t, s3.Endpoint)
	store, err := storage.NewMinio(storage.Config{Endpoint: proxy.URL(), AccessKey: s3.AccessKey, SecretKey: s3.SecretKey,
		BucketLookup: "path", MaxRetries: 1})
	require.NoError(t, err)
	t.Cleanup(store.CloseIdleConnections)
	r, err := s3source.New(s3source.Config{Store: store})
	require.NoError(t, err)
	put(t, testenv.MinioClient(t, s3.Endpoint, s3), bucket, "k", []byte("hello world"), minio.PutObjectOptions{})
	src := "s3://" + bucket + "/k"
	info, err := r.Stat(t.Context(), src)
	require.NoError(t, err)

	proxy.SetFault(func(req testenv.Request) testenv.Fault {
		if req.Op == testenv.OpGetObject && req.Seq == 1 {
			return testenv.Fault{Status: 503}
		}
		return testenv.Fault{}
	})
	buf := make([]byte, 5)
	err = r.ReadAt(t.Context(), src, info, 6, buf)
	require.Error(t, err)
	require.False(t, source.Permanent(err), "a 503 is retried: %v", err)
	require.NoError(t, r.ReadAt(t.Context(), src, info, 6, buf))
	require.Equal(t, "world", string(buf))
}
