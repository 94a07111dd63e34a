package storage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/partflow/partflow/internal/localstack"
	"github.com/partflow/partflow/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// s3env is one real S3 server (versitygw) shared by the subtests of one
// test, each of which takes its own bucket.
type s3env struct {
	s3 *localstack.S3
}

func newS3Env(t *testing.T) s3env { return s3env{s3: testenv.S3(t)} }

// bucket creates a fresh bucket.
func (e s3env) bucket(t *testing.T) string { return testenv.Bucket(t, e.s3) }

// minio returns a Minio for endpoint (the server or a proxy) with small list
// pages, so that three parts or uploads already take two pages.
func (e s3env) minio(t *testing.T, endpoint string, maxRetries int) *Minio {
	t.Helper()
	m, err := NewMinio(Config{Endpoint: endpoint, AccessKey: e.s3.AccessKey, SecretKey: e.s3.SecretKey, MaxRetries: maxRetries})
	require.NoError(t, err)
	m.partsPageSize, m.uploadsPageSize = 2, 2
	t.Cleanup(m.CloseIdleConnections)
	return m
}

// get reads an object back with plain minio-go, independent of Minio.
func (e s3env) get(t *testing.T, ctx context.Context, obj Object) []byte {
	t.Helper()
	r, err := testenv.MinioClient(t, e.s3.Endpoint, e.s3).GetObject(ctx, obj.Bucket, obj.Key, minio.GetObjectOptions{})
	require.NoError(t, err)
	defer r.Close()
	b, err := io.ReadAll(r)
	require.NoError(t, err, "read %s", obj)
	return b
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// payload returns n deterministic pseudo-random bytes.
func payload(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func md5hex(b []byte) string { h, _ := contentMD5(b); return h }

func TestMinioAcceptance(t *testing.T) {
	t.Parallel()
	e := newS3Env(t)
	acceptance(t, e.minio(t, e.s3.Endpoint, 0), e.bucket, e.get)
}

// acceptance runs the behaviour partflow relies on against m, an
// implementation of Multipart connected to a real server. newBucket creates
// a fresh bucket; get reads an object back by other means than m.
func acceptance(t *testing.T, m Multipart, newBucket func(*testing.T) string,
	get func(*testing.T, context.Context, Object) []byte,
) {
	t.Run("MultipartRoundTrip", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		obj := Object{newBucket(t), "dir/round trip+ü.bin"}
		bodies := [][]byte{payload(5<<20, 1), payload(5<<20, 2), payload(1024, 3)}

		id, err := m.CreateUpload(ctx, obj, ObjectOptions{ContentType: "application/x-partflow", Metadata: map[string]string{"source": "test"}})
		require.NoError(t, err)
		require.NotEmpty(t, id)

		// Parts arrive in any order and concurrently, as tasks do.
		parts := make([]Part, len(bodies))
		var wg sync.WaitGroup
		errs := make([]error, len(bodies))
		for i := range slices.Backward(bodies) {
			wg.Go(func() { parts[i], errs[i] = m.UploadPart(ctx, obj, id, i+1, bodies[i], ObjectOptions{}) })
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "part %d", i+1)
			require.Equal(t, Part{Number: i + 1, ETag: md5hex(bodies[i]), Size: int64(len(bodies[i])),
				MD5: md5hex(bodies[i]), CRC64NVME: CRC64NVME(bodies[i])}, parts[i])
			require.True(t, parts[i].ETagIsMD5())
		}

		listed, err := m.ListParts(ctx, obj, id) // two pages of two
		require.NoError(t, err)
		for i := range parts {
			want := parts[i]
			want.MD5 = "" // S3 does not say what was sent
			require.Equal(t, want, listed[i])
		}

		uploads, err := m.ListUploads(ctx, obj.Bucket, "dir/")
		require.NoError(t, err)
		require.Len(t, uploads, 1)
		require.Equal(t, obj, uploads[0].Object)
		require.Equal(t, id, uploads[0].UploadID)
		require.WithinDuration(t, time.Now(), uploads[0].Initiated, time.Hour)

		etag, err := m.CompleteUpload(ctx, obj, id, []Part{parts[2], parts[0], parts[1]}, ObjectOptions{})
		require.NoError(t, err)
		want, err := MultipartETag([]string{parts[0].ETag, parts[1].ETag, parts[2].ETag})
		require.NoError(t, err)
		require.Equal(t, want, etag, "Complete's ETag is the multipart ETag of the parts")

		info, err := m.StatObject(ctx, obj, ObjectOptions{})
		require.NoError(t, err)
		require.Equal(t, int64(10<<20+1024), info.Size)
		require.Equal(t, want, info.ETag)
		require.Equal(t, "application/x-partflow", info.ContentType)
		require.WithinDuration(t, time.Now(), info.LastModified, time.Hour)
		require.Equal(t, CRC64NVME(slices.Concat(bodies...)), info.CRC64NVME, "the full-object checksum")
		full, ok := FullObjectCRC64NVME(parts)
		require.True(t, ok)
		require.Equal(t, info.CRC64NVME, full, "the parts' checksums add up to the object's")

		require.True(t, bytes.Equal(slices.Concat(bodies...), get(t, ctx, obj)), "object differs from its parts")

		uploads, err = m.ListUploads(ctx, obj.Bucket, "dir/")
		require.NoError(t, err)
		require.Empty(t, uploads, "a completed upload is no longer listed")
	})

	t.Run("ListUploadsPagesAndAbort", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		bucket := newBucket(t)
		var objs []Object
		ids := map[Object]string{}
		for _, key := range []string{"a/1", "a/2", "a/3", "b/other"} {
			obj := Object{bucket, key}
			id, err := m.CreateUpload(ctx, obj, ObjectOptions{})
			require.NoError(t, err)
			objs, ids[obj] = append(objs, obj), id
		}
		_, err := m.UploadPart(ctx, objs[0], ids[objs[0]], 1, []byte("x"), ObjectOptions{})
		require.NoError(t, err)

		uploads, err := m.ListUploads(ctx, bucket, "a/") // two pages of two
		require.NoError(t, err)
		var got []Object
		for _, u := range uploads {
			got = append(got, u.Object)
			require.Equal(t, ids[u.Object], u.UploadID)
		}
		require.ElementsMatch(t, objs[:3], got)

		require.NoError(t, m.AbortUpload(ctx, objs[0], ids[objs[0]]))
		uploads, err = m.ListUploads(ctx, bucket, "")
		require.NoError(t, err)
		got = got[:0]
		for _, u := range uploads {
			got = append(got, u.Object)
		}
		require.ElementsMatch(t, objs[1:], got, "the aborted upload is gone")

		_, err = m.ListParts(ctx, objs[0], ids[objs[0]])
		require.ErrorIs(t, err, ErrNoSuchUpload)
		_, err = m.UploadPart(ctx, objs[0], ids[objs[0]], 2, []byte("y"), ObjectOptions{})
		require.ErrorIs(t, err, ErrNoSuchUpload)
		require.False(t, Permanent(err), "callers decide about NoSuchUpload")
	})

	t.Run("PutObject", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		bucket := newBucket(t)
		for _, body := range [][]byte{{}, {'x'}, payload(100_000, 4)} {
			obj := Object{bucket, fmt.Sprintf("put/%d", len(body))}
			part, err := m.PutObject(ctx, obj, body, ObjectOptions{ContentType: "text/plain"})
			require.NoError(t, err, "%d bytes", len(body))
			require.Equal(t, md5hex(body), part.ETag)
			require.Equal(t, CRC64NVME(body), part.CRC64NVME)

			info, err := m.StatObject(ctx, obj, ObjectOptions{})
			require.NoError(t, err)
			require.Equal(t, int64(len(body)), info.Size)
			require.Equal(t, part.ETag, info.ETag)
			require.Equal(t, part.CRC64NVME, info.CRC64NVME)
			require.Equal(t, "text/plain", info.ContentType)
			require.True(t, bytes.Equal(body, get(t, ctx, obj)), "%d bytes", len(body))
		}
	})

	t.Run("CompleteWithWrongETag", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		obj := Object{newBucket(t), "wrong-etag"}
		id, err := m.CreateUpload(ctx, obj, ObjectOptions{})
		require.NoError(t, err)
		part, err := m.UploadPart(ctx, obj, id, 1, []byte("hello"), ObjectOptions{})
		require.NoError(t, err)
		part.ETag = md5hex([]byte("other"))
		_, err = m.CompleteUpload(ctx, obj, id, []Part{part}, ObjectOptions{})
		require.ErrorIs(t, err, ErrInvalidPart)
		require.True(t, Permanent(err))
		_, err = m.StatObject(ctx, obj, ObjectOptions{})
		require.ErrorIs(t, err, ErrNoSuchKey, "nothing was completed")
	})

	t.Run("MissingBucketAndKey", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		bucket := newBucket(t)
		missing := Object{"pf-missing-" + bucket, "key"}

		ok, err := m.BucketExists(ctx, bucket)
		require.NoError(t, err)
		require.True(t, ok)
		ok, err = m.BucketExists(ctx, missing.Bucket)
		require.NoError(t, err)
		require.False(t, ok)

		_, err = m.PutObject(ctx, missing, []byte("x"), ObjectOptions{})
		require.ErrorIs(t, err, ErrNoSuchBucket)
		require.True(t, Permanent(err))
		require.ErrorContains(t, err, "storage: put "+missing.String()+": no such bucket: ")
		_, err = m.CreateUpload(ctx, missing, ObjectOptions{})
		require.ErrorIs(t, err, ErrNoSuchBucket)
		_, err = m.ListUploads(ctx, missing.Bucket, "")
		require.ErrorIs(t, err, ErrNoSuchBucket)

		_, err = m.StatObject(ctx, Object{bucket, "no/such/key"}, ObjectOptions{})
		require.ErrorIs(t, err, ErrNoSuchKey)
		require.False(t, Permanent(err))

		_, err = m.ListParts(ctx, Object{bucket, "key"}, "no-such-upload-id")
		require.ErrorIs(t, err, ErrNoSuchUpload)
	})
}

// TestMinioFaults puts the fault proxy between Minio and versitygw.
func TestMinioFaults(t *testing.T) {
	t.Parallel()
	e := newS3Env(t)

	// setup returns a bucket, a proxy of its own and a Minio through it.
	setup := func(t *testing.T, maxRetries int) (string, *testenv.Proxy, *Minio) {
		p := testenv.NewProxy(t, e.s3.Endpoint)
		return e.bucket(t), p, e.minio(t, p.URL(), maxRetries)
	}

	t.Run("CorruptPartIsBadDigestAndNotRecorded", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		bucket, p, m := setup(t, 0)
		obj := Object{bucket, "corrupt"}
		id, err := m.CreateUpload(ctx, obj, ObjectOptions{})
		require.NoError(t, err)

		p.SetFault(func(r testenv.Request) testenv.Fault {
			return testenv.Fault{CorruptBody: r.Op == testenv.OpUploadPart && r.Seq == 1}
		})
		body := payload(1<<20, 5)
		_, err = m.UploadPart(ctx, obj, id, 1, body, ObjectOptions{})
		require.ErrorIs(t, err, ErrBadDigest)
		require.ErrorContains(t, err, "storage: upload part 1 of "+obj.String()+": bad digest: ")
		require.False(t, Permanent(err))
		require.Equal(t, 1, p.Count(testenv.OpUploadPart), "minio-go does not retry a bad digest itself")

		parts, err := m.ListParts(ctx, obj, id)
		require.NoError(t, err)
		require.Empty(t, parts, "the corrupt part was not recorded")

		part, err := m.UploadPart(ctx, obj, id, 1, body, ObjectOptions{}) // the task's retry
		require.NoError(t, err)
		require.Equal(t, md5hex(body), part.ETag)
	})

	t.Run("TransientFailuresAreRetriedBySDK", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		bucket, p, m := setup(t, 0)
		obj := Object{bucket, "retried"}
		id, err := m.CreateUpload(ctx, obj, ObjectOptions{})
		require.NoError(t, err)

		p.SetFault(func(r testenv.Request) testenv.Fault {
			switch {
			case r.Op == testenv.OpUploadPart && r.Seq == 1:
				return testenv.Fault{Status: 503, Code: "SlowDown"}
			case r.Op == testenv.OpUploadPart && r.Seq == 2:
				return testenv.Fault{Drop: true}
			}
			return testenv.Fault{}
		})
		body := payload(1<<20, 6)
		part, err := m.UploadPart(ctx, obj, id, 1, body, ObjectOptions{})
		require.NoError(t, err, "the seekable body is resent")
		require.Equal(t, md5hex(body), part.ETag)
		require.Equal(t, 3, p.Count(testenv.OpUploadPart))
	})

	t.Run("SlowDownAfterRetries", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		bucket, p, m := setup(t, 2)
		p.SetFault(func(r testenv.Request) testenv.Fault {
			return testenv.Fault{Status: 503, Code: "SlowDown"}
		})
		_, err := m.PutObject(ctx, Object{bucket, "slow"}, []byte("x"), ObjectOptions{})
		require.ErrorIs(t, err, ErrSlowDown)
		require.False(t, Permanent(err))
		require.Equal(t, 2, p.Count(testenv.OpPutObject))
	})

	t.Run("CompleteNoSuchUpload", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		bucket, p, m := setup(t, 0)
		obj := Object{bucket, "gone"}
		id, err := m.CreateUpload(ctx, obj, ObjectOptions{})
		require.NoError(t, err)
		part, err := m.UploadPart(ctx, obj, id, 1, []byte("data"), ObjectOptions{})
		require.NoError(t, err)

		p.SetFault(func(r testenv.Request) testenv.Fault {
			if r.Op == testenv.OpCompleteMultipartUpload && r.Seq == 1 {
				return testenv.Fault{Status: 404, Code: "NoSuchUpload"}
			}
			return testenv.Fault{}
		})
		_, err = m.CompleteUpload(ctx, obj, id, []Part{part}, ObjectOptions{})
		require.ErrorIs(t, err, ErrNoSuchUpload)
		require.False(t, Permanent(err))

		// MinIO's answer to a repeated Complete, and how a finalizer checks
		// that the earlier attempt did complete the object.
		p.EmulateMinIOComplete()
		etag, err := m.CompleteUpload(ctx, obj, id, []Part{part}, ObjectOptions{})
		require.NoError(t, err)
		_, err = m.CompleteUpload(ctx, obj, id, []Part{part}, ObjectOptions{})
		require.ErrorIs(t, err, ErrNoSuchUpload)
		info, err := m.StatObject(ctx, obj, ObjectOptions{})
		require.NoError(t, err)
		want, err := MultipartETag([]string{part.ETag})
		require.NoError(t, err)
		require.Equal(t, want, etag)
		require.Equal(t, want, info.ETag)
		require.Equal(t, int64(4), info.Size)
	})
}
