package storage

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Server-side copies on versitygw: UploadPartCopy parts come back with their CRC-64/NVME, so
// Complete sends (and the server checks) the full-object checksum; CopyObject replaces the
// metadata, content type and tags; both refuse a source whose ETag changed (412).
func TestCopierPinsTheSource(t *testing.T) {
	t.Parallel()
	e := newS3Env(t)
	m := e.minio(t, e.s3.Endpoint, 1)
	ctx := testCtx(t)
	bucket := e.bucket(t)
	body := payload(11<<20, 3)
	src := Object{Bucket: bucket, Key: "src/big.bin"}
	_, err := m.PutObject(ctx, src, body, ObjectOptions{ContentType: "text/x-src", Metadata: map[string]string{"origin": "src"}})
	require.NoError(t, err)
	hi, err := m.HeadSource(ctx, src)
	require.NoError(t, err)
	require.Equal(t, int64(len(body)), hi.Size)
	require.Equal(t, "text/x-src", hi.ContentType)
	require.Equal(t, "src", hi.Metadata["origin"])
	pinned := SourceObject{Bucket: bucket, Key: src.Key, ETag: hi.ETag, VersionID: hi.VersionID}

	dst := Object{Bucket: bucket, Key: "dst/big.bin"}
	id, err := m.CreateUpload(ctx, dst, ObjectOptions{})
	require.NoError(t, err)
	var parts []Part
	for n, off := 1, int64(0); off < int64(len(body)); n, off = n+1, off+5<<20 {
		length := min(5<<20, int64(len(body))-off)
		p, err := m.CopyPart(ctx, dst, id, n, pinned, off, length, ObjectOptions{})
		require.NoError(t, err, "copy part %d", n)
		require.NotEmpty(t, p.CRC64NVME, "versitygw returns the copied part's checksum")
		parts = append(parts, p)
	}
	_, err = m.CompleteUpload(ctx, dst, id, parts, ObjectOptions{})
	require.NoError(t, err)
	require.Equal(t, body, e.get(t, ctx, dst))
	info, err := m.StatObject(ctx, dst, ObjectOptions{})
	require.NoError(t, err)
	want, _ := FullObjectCRC64NVME(parts)
	require.Equal(t, want, info.CRC64NVME, "the server checked the full-object checksum")

	small := Object{Bucket: bucket, Key: "dst/small.bin"}
	_, err = m.CopyObject(ctx, small, pinned, ObjectOptions{ContentType: "text/x-dst",
		Metadata: map[string]string{"origin": "dst"}, Tags: map[string]string{"tier": "gold"}})
	require.NoError(t, err)
	info, err = m.StatObject(ctx, small, ObjectOptions{})
	require.NoError(t, err)
	require.Equal(t, "text/x-dst", info.ContentType)
	require.Equal(t, "dst", info.Metadata["origin"])
	tags, err := m.SourceTags(ctx, SourceObject{Bucket: bucket, Key: small.Key})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"tier": "gold"}, tags)

	_, err = m.PutObject(ctx, src, payload(11<<20, 4), ObjectOptions{})
	require.NoError(t, err)
	id, err = m.CreateUpload(ctx, dst, ObjectOptions{})
	require.NoError(t, err)
	_, err = m.CopyPart(ctx, dst, id, 1, pinned, 0, 5<<20, ObjectOptions{})
	require.ErrorIs(t, err, ErrPreconditionFailed, "UploadPartCopy of a changed source")
	_, err = m.CopyObject(ctx, small, pinned, ObjectOptions{})
	require.ErrorIs(t, err, ErrPreconditionFailed, "CopyObject of a changed source")
	require.ErrorIs(t, m.ReadSource(ctx, pinned, 0, make([]byte, 10)), ErrPreconditionFailed, "GET of a changed source")
	require.NoError(t, m.AbortUpload(ctx, dst, id))
}
