package source_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/source"
)

func TestParseS3(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, bucket, key, err string
	}{
		{in: "s3://my-bucket/a/b.txt", bucket: "my-bucket", key: "a/b.txt"},
		{in: "S3://my.bucket/k%20?x=1#y", bucket: "my.bucket", key: "k%20?x=1#y"}, // the key is literal
		{in: "s3://my-bucket/", err: "the key is empty"},
		{in: "s3://my-bucket", err: "the key is empty"},
		{in: "s3://ab/k", err: "3 to 63"},
		{in: "s3://My-Bucket/k", err: "lower-case"},
		{in: "s3://-bucket/k", err: "lower-case"},
		{in: "s3://a..b/k", err: "dot next to"},
		{in: "s3://192.168.1.1/k", err: "IP address"},
		{in: "s3:///k", err: "3 to 63"},
		{in: "s3://bucket/" + strings.Repeat("k", 1025), err: "1024"},
		{in: "https://bucket/k", err: "not an s3://"},
	} {
		loc, err := source.ParseS3(tc.in)
		if tc.err != "" {
			require.ErrorIs(t, err, source.ErrInvalid, tc.in)
			require.ErrorContains(t, err, tc.err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, source.S3Location{Bucket: tc.bucket, Key: tc.key}, loc, tc.in)
	}
	loc, err := source.ParseS3Prefix("s3://my-bucket/")
	require.NoError(t, err)
	require.Equal(t, source.S3Location{Bucket: "my-bucket"}, loc, "a listing may take a whole bucket")
}

func TestS3FingerprintRoundTrip(t *testing.T) {
	t.Parallel()
	for _, fp := range []source.S3Fingerprint{
		{Size: 0, ETag: "d41d8cd98f00b204e9800998ecf8427e"},
		{Size: 11 << 20, ETag: "0123abcd-3", VersionID: "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"},
		{Size: 7, ETag: "CRC64NVME-AbC=:x"},
	} {
		got, err := source.ParseS3Fingerprint(fp.Info())
		require.NoError(t, err)
		require.Equal(t, fp, got)
	}
	for _, bad := range []source.Info{
		{Size: 5, Fingerprint: "s3:6:etag:x"},
		{Size: 5, Fingerprint: "s3:5:etag:"},
		{Size: 5, Fingerprint: "s3:5:version::etag:x"},
		{Size: 5, Fingerprint: "url:5:etag:\"x\""},
	} {
		_, err := source.ParseS3Fingerprint(bad)
		require.ErrorIs(t, err, source.ErrInvalid, bad.Fingerprint)
	}
}

func FuzzS3Fingerprint(f *testing.F) {
	f.Add(int64(3), "etag", "v1")
	f.Fuzz(func(t *testing.T, size int64, etag, version string) {
		if size < 0 || etag == "" || strings.Contains(version, ":") {
			return
		}
		fp := source.S3Fingerprint{Size: size, ETag: etag, VersionID: version}
		got, err := source.ParseS3Fingerprint(fp.Info())
		if err != nil || got != fp {
			t.Fatalf("%+v: got %+v, %v", fp, got, err)
		}
	})
}

// A worker without a source store fails s3:// sources permanently, saying how to enable them.
func TestMuxWithoutSourceStore(t *testing.T) {
	t.Parallel()
	_, err := source.Mux{}.Stat(t.Context(), "s3://old-bucket/a")
	require.ErrorIs(t, err, source.ErrForbidden)
	require.True(t, source.Permanent(err))
	require.ErrorContains(t, err, "--source-s3-endpoint")
	_, err = source.Mux{}.Stat(t.Context(), "s3://Bad/a")
	require.ErrorIs(t, err, source.ErrInvalid)
}
