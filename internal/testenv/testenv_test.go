package testenv_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/partflow/partflow/internal/localstack"
	"github.com/partflow/partflow/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const mib = 1 << 20

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// payload returns n deterministic pseudo-random bytes.
func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

func md5sum(b []byte) []byte { s := md5.Sum(b); return s[:] }

// multipartETag is the S3 convention: md5 of the concatenated part MD5s + "-N".
func multipartETag(parts ...[]byte) string {
	var all []byte
	for _, p := range parts {
		all = append(all, md5sum(p)...)
	}
	return fmt.Sprintf("%x-%d", md5.Sum(all), len(parts))
}

// s3bundle is one S3 server, a bucket, a proxy in front and clients.
type s3bundle struct {
	bucket string
	proxy  *testenv.Proxy
	client *minio.Client // through the proxy
	core   minio.Core    // through the proxy
}

func setupS3(t *testing.T) s3bundle {
	t.Helper()
	s := testenv.S3(t)
	bucket := testenv.Bucket(t, s)
	proxy := testenv.NewProxy(t, s.Endpoint)
	c := testenv.MinioClient(t, proxy.URL(), s)
	return s3bundle{bucket: bucket, proxy: proxy, client: c, core: minio.Core{Client: c}}
}

// putPart uploads data as part n with Content-MD5 and UNSIGNED-PAYLOAD.
func (b s3bundle) putPart(ctx context.Context, key, uploadID string, n int, data []byte) (minio.ObjectPart, error) {
	return b.core.PutObjectPart(ctx, b.bucket, key, uploadID, n, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectPartOptions{Md5Base64: base64.StdEncoding.EncodeToString(md5sum(data)), DisableContentSha256: true})
}

func TestRedisRestartKeepsAOFData(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	r := testenv.Redis(t)
	c := testenv.RedisClient(t, r)
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())

	require.NoError(t, r.Restart(ctx))
	got, err := c.Get(ctx, "k").Result()
	require.NoError(t, err, "GET after restart")
	require.Equal(t, "v", got, "AOF data survives a restart")

	policy, err := c.ConfigGet(ctx, "maxmemory-policy").Result()
	require.NoError(t, err)
	require.Equal(t, "noeviction", policy["maxmemory-policy"])
}

func TestRedisWithPassword(t *testing.T) {
	t.Parallel()
	r := testenv.RedisWith(t, localstack.RedisConfig{Password: "pw"})
	c := testenv.RedisClient(t, r)
	require.NoError(t, c.Ping(testCtx(t)).Err())
}

func TestMultipartRoundTripThroughProxy(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	b := setupS3(t)
	key := "dir/object.bin"
	p1, p2 := payload(5*mib, 1), payload(mib+123, 2)

	uploadID, err := b.core.NewMultipartUpload(ctx, b.bucket, key, minio.PutObjectOptions{})
	require.NoError(t, err)
	var parts []minio.CompletePart
	for i, data := range [][]byte{p1, p2} {
		part, err := b.putPart(ctx, key, uploadID, i+1, data)
		require.NoError(t, err)
		require.Equal(t, hex.EncodeToString(md5sum(data)), part.ETag, "part ETag is the part's MD5")
		parts = append(parts, minio.CompletePart{PartNumber: i + 1, ETag: part.ETag})
	}
	listed, err := b.core.ListObjectParts(ctx, b.bucket, key, uploadID, 0, 100)
	require.NoError(t, err)
	require.Len(t, listed.ObjectParts, 2)

	info, err := b.core.CompleteMultipartUpload(ctx, b.bucket, key, uploadID, parts, minio.PutObjectOptions{})
	require.NoError(t, err)
	want := multipartETag(p1, p2)
	t.Logf("versitygw CompleteMultipartUpload ETag %q (md5 of part MD5s + -N = %q)", info.ETag, want)
	require.Equal(t, want, info.ETag)

	st, err := b.client.StatObject(ctx, b.bucket, key, minio.StatObjectOptions{})
	require.NoError(t, err)
	t.Logf("versitygw StatObject ETag %q size %d", st.ETag, st.Size)
	require.Equal(t, want, st.ETag)
	require.EqualValues(t, len(p1)+len(p2), st.Size)

	obj, err := b.client.GetObject(ctx, b.bucket, key, minio.GetObjectOptions{})
	require.NoError(t, err)
	got, err := io.ReadAll(obj)
	require.NoError(t, err)
	require.NoError(t, obj.Close())
	require.True(t, bytes.Equal(append(p1, p2...), got), "object content round-trips")

	for op, n := range map[testenv.Op]int{
		testenv.OpCreateMultipartUpload:   1,
		testenv.OpUploadPart:              2,
		testenv.OpListParts:               1,
		testenv.OpCompleteMultipartUpload: 1,
		testenv.OpHeadObject:              1,
		testenv.OpGetObject:               1,
	} {
		require.Equal(t, n, b.proxy.CountStatus(op, http.StatusOK), "requests of %s answered 200", op)
	}
	for _, e := range b.proxy.Exchanges() {
		if e.Op == testenv.OpUploadPart {
			require.Equal(t, key, e.Key)
			require.Equal(t, uploadID, e.UploadID)
			require.Contains(t, []int{1, 2}, e.PartNumber)
		}
	}

	// The high-level API splits a 12 MiB object into 5 MiB parts.
	big := payload(12*mib, 3)
	_, err = b.client.PutObject(ctx, b.bucket, "big", bytes.NewReader(big), int64(len(big)),
		minio.PutObjectOptions{PartSize: 5 * mib, DisableContentSha256: true})
	require.NoError(t, err)
	require.Equal(t, 2, b.proxy.Count(testenv.OpCreateMultipartUpload))
	require.Equal(t, 5, b.proxy.Count(testenv.OpUploadPart))
	require.Equal(t, 2, b.proxy.Count(testenv.OpCompleteMultipartUpload))
}

func TestCorruptPartIsRefused(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	b := setupS3(t)
	uploadID, err := b.core.NewMultipartUpload(ctx, b.bucket, "k", minio.PutObjectOptions{})
	require.NoError(t, err)

	b.proxy.SetFault(func(r testenv.Request) testenv.Fault {
		return testenv.Fault{CorruptBody: r.Op == testenv.OpUploadPart && r.Seq == 1}
	})
	data := payload(mib, 4)
	_, err = b.putPart(ctx, "k", uploadID, 1, data)
	require.Error(t, err, "a part whose body does not match Content-MD5 is refused")
	resp := minio.ToErrorResponse(err)
	t.Logf("versitygw answers a corrupted part with HTTP %d %s: %s", resp.StatusCode, resp.Code, resp.Message)
	require.Equal(t, "BadDigest", resp.Code)
	require.Equal(t, 1, b.proxy.CountStatus(testenv.OpUploadPart, http.StatusBadRequest))

	// The retry (second request) is not corrupted and succeeds.
	part, err := b.putPart(ctx, "k", uploadID, 1, data)
	require.NoError(t, err)
	require.Equal(t, hex.EncodeToString(md5sum(data)), part.ETag)
}

func TestEmulateMinIOComplete(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	b := setupS3(t)
	data := payload(mib, 5)

	complete := func(key string) (string, []minio.CompletePart) {
		id, err := b.core.NewMultipartUpload(ctx, b.bucket, key, minio.PutObjectOptions{})
		require.NoError(t, err)
		part, err := b.putPart(ctx, key, id, 1, data)
		require.NoError(t, err)
		parts := []minio.CompletePart{{PartNumber: 1, ETag: part.ETag}}
		_, err = b.core.CompleteMultipartUpload(ctx, b.bucket, key, id, parts, minio.PutObjectOptions{})
		require.NoError(t, err, "first complete")
		return id, parts
	}

	// versitygw itself answers a repeated Complete with 200.
	id, parts := complete("plain")
	info, err := b.core.CompleteMultipartUpload(ctx, b.bucket, "plain", id, parts, minio.PutObjectOptions{})
	require.NoError(t, err, "versitygw answers a second Complete")
	require.Equal(t, multipartETag(data), info.ETag, "versitygw's second Complete ETag")

	b.proxy.EmulateMinIOComplete()
	id, parts = complete("minio")
	_, err = b.core.CompleteMultipartUpload(ctx, b.bucket, "minio", id, parts, minio.PutObjectOptions{})
	require.Equal(t, "NoSuchUpload", minio.ToErrorResponse(err).Code, "second Complete with MinIO emulation: %v", err)
	require.Equal(t, 1, b.proxy.CountStatus(testenv.OpCompleteMultipartUpload, http.StatusNotFound))
}

// TestUnknownUploadID pins what versitygw v1.8.0 answers for an upload id it
// does not know: 404 NoSuchUpload, except that Complete answers 200 whenever
// an object already exists under the key (it checks the key before the id).
func TestUnknownUploadID(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	b := setupS3(t)
	const id = "bm90LWFuLXVwbG9hZC1pZA"
	parts := []minio.CompletePart{{PartNumber: 1, ETag: hex.EncodeToString(md5sum([]byte("x")))}}

	err := b.core.AbortMultipartUpload(ctx, b.bucket, "k", id)
	require.Equal(t, "NoSuchUpload", minio.ToErrorResponse(err).Code, "abort: %v", err)
	_, err = b.core.ListObjectParts(ctx, b.bucket, "k", id, 0, 100)
	require.Equal(t, "NoSuchUpload", minio.ToErrorResponse(err).Code, "list parts: %v", err)
	_, err = b.core.CompleteMultipartUpload(ctx, b.bucket, "k", id, parts, minio.PutObjectOptions{})
	require.Equal(t, "NoSuchUpload", minio.ToErrorResponse(err).Code, "complete, no object under the key: %v", err)
	for _, op := range []testenv.Op{testenv.OpAbortMultipartUpload, testenv.OpListParts, testenv.OpCompleteMultipartUpload} {
		require.Equal(t, 1, b.proxy.CountStatus(op, http.StatusNotFound), "%s answered 404", op)
	}

	data := payload(1000, 8)
	_, err = b.client.PutObject(ctx, b.bucket, "exists", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	require.NoError(t, err)
	info, err := b.core.CompleteMultipartUpload(ctx, b.bucket, "exists", id, parts, minio.PutObjectOptions{})
	require.NoError(t, err, "versitygw completes an unknown upload id when the key exists")
	t.Logf("versitygw Complete with an unknown id on an existing key: 200, ETag %q", info.ETag)
	require.Equal(t, multipartETag([]byte("x")), info.ETag, "the ETag is computed from the request's part list")
	st, err := b.client.StatObject(ctx, b.bucket, "exists", minio.StatObjectOptions{})
	require.NoError(t, err)
	require.Equal(t, hex.EncodeToString(md5sum(data)), st.ETag, "the object itself is unchanged")
}

func TestStatusFault(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	b := setupS3(t)
	uploadID, err := b.core.NewMultipartUpload(ctx, b.bucket, "k", minio.PutObjectOptions{})
	require.NoError(t, err)

	// A permanent error code reaches the caller unchanged.
	b.proxy.SetFault(func(r testenv.Request) testenv.Fault {
		if r.Op == testenv.OpListParts {
			return testenv.Fault{Status: http.StatusNotFound, Code: "NoSuchUpload"}
		}
		return testenv.Fault{}
	})
	_, err = b.core.ListObjectParts(ctx, b.bucket, "k", uploadID, 0, 100)
	resp := minio.ToErrorResponse(err)
	require.Equal(t, "NoSuchUpload", resp.Code, "synthesized code: %v", err)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, "partflow-proxy", resp.RequestID)

	// A 503 on the first part request is retried by minio-go and then passes.
	b.proxy.SetFault(func(r testenv.Request) testenv.Fault {
		if r.Op == testenv.OpUploadPart && r.Seq == 1 {
			return testenv.Fault{Status: http.StatusServiceUnavailable, Code: "SlowDown"}
		}
		return testenv.Fault{}
	})
	_, err = b.putPart(ctx, "k", uploadID, 1, payload(mib, 6))
	require.NoError(t, err)
	require.Equal(t, 1, b.proxy.CountStatus(testenv.OpUploadPart, http.StatusServiceUnavailable))
	require.Equal(t, 1, b.proxy.CountStatus(testenv.OpUploadPart, http.StatusOK))

	b.proxy.SetFault(nil)
	_, err = b.core.ListObjectParts(ctx, b.bucket, "k", uploadID, 0, 100)
	require.NoError(t, err, "SetFault(nil) clears the fault")
}

func TestDropAndDelayFaults(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	b := setupS3(t)

	b.proxy.SetFault(func(r testenv.Request) testenv.Fault {
		return testenv.Fault{Drop: r.Op == testenv.OpPutObject && r.Seq == 1}
	})
	data := payload(64<<10, 7)
	_, err := b.client.PutObject(ctx, b.bucket, "small", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	require.NoError(t, err, "minio-go retries a dropped PutObject with a seekable body")
	require.Equal(t, 2, b.proxy.Count(testenv.OpPutObject))
	require.Equal(t, 1, b.proxy.CountStatus(testenv.OpPutObject, http.StatusOK))

	b.proxy.SetFault(func(r testenv.Request) testenv.Fault {
		return testenv.Fault{Delay: time.Minute}
	})
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = b.client.StatObject(short, b.bucket, "small", minio.StatObjectOptions{})
	require.Error(t, err, "a delayed request runs into the caller's deadline")
	require.Less(t, time.Since(start), 10*time.Second)
}
