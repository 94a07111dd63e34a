package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/encrypt"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// The calls below read S3 objects as sources (a second store configured on the workers, or the
// destination itself) and copy them server-side. They are not part of Multipart: a worker
// without an S3 source store never needs them.

// SourceObject names one version of a source object: its ETag as HeadObject returned it
// (quotes trimmed, case kept) and its version ID when the bucket is versioned. Reads and
// copies send both as preconditions (If-Match / x-amz-copy-source-if-match, versionId).
type SourceObject struct {
	Bucket, Key string
	VersionID   string
	ETag        string
}

// String returns "bucket/key" (with "?versionId=…" when pinned to a version).
func (s SourceObject) String() string {
	if s.VersionID != "" {
		return s.Bucket + "/" + s.Key + "?versionId=" + s.VersionID
	}
	return s.Bucket + "/" + s.Key
}

// SourceInfo is what HeadObject tells about a source object.
type SourceInfo struct {
	Size int64
	// ETag has its quotes trimmed but its case kept: it is sent back as a precondition.
	ETag         string
	VersionID    string // empty when the bucket is not versioned
	LastModified time.Time
	ContentType  string
	// Metadata is the object's user metadata, keys in lower case without x-amz-meta-.
	Metadata map[string]string
	// ContentEncoding, ContentDisposition and CacheControl are the object's headers.
	ContentEncoding, ContentDisposition, CacheControl string
}

// Copier copies source objects server-side, within one S3 store.
type Copier interface {
	// CopyPart copies [off, off+length) of src into part number of a multipart upload
	// (UploadPartCopy), pinned to src.ETag (and src.VersionID). A changed source answers
	// ErrPreconditionFailed. The part has the server's ETag, and its CRC-64/NVME when the
	// server returned one; no MD5 (the bytes never passed through partflow).
	CopyPart(ctx context.Context, dst Object, uploadID string, number int, src SourceObject, off, length int64, opts ObjectOptions) (Part, error)
	// CopyObject copies src whole into dst (CopyObject, at most 5 GiB), pinned like CopyPart,
	// replacing the metadata, content type and tags with opts'.
	CopyObject(ctx context.Context, dst Object, src SourceObject, opts ObjectOptions) (Part, error)
}

var _ Copier = (*Minio)(nil)

// ErrPreconditionFailed: the object no longer matches the ETag or version a read or copy was
// pinned to (412 PreconditionFailed): the source changed.
var ErrPreconditionFailed = errors.New("precondition failed")

// HeadSource returns a source object's size, ETag, version, content type and metadata.
func (m *Minio) HeadSource(ctx context.Context, obj Object) (SourceInfo, error) {
	if err := checkBucket(obj.Bucket); err != nil {
		return SourceInfo{}, fmt.Errorf("storage: head %s: %w", obj, err)
	}
	info, err := m.core.StatObject(ctx, obj.Bucket, obj.Key, minio.StatObjectOptions{})
	if err != nil {
		return SourceInfo{}, fmt.Errorf("storage: head %s: %w", obj, translate(err))
	}
	return SourceInfo{
		Size:               info.Size,
		ETag:               strings.Trim(info.ETag, `"`),
		VersionID:          info.VersionID,
		LastModified:       info.LastModified,
		ContentType:        info.ContentType,
		Metadata:           lowerKeys(info.UserMetadata),
		ContentEncoding:    info.Metadata.Get("Content-Encoding"),
		ContentDisposition: info.Metadata.Get("Content-Disposition"),
		CacheControl:       info.Metadata.Get("Cache-Control"),
	}, nil
}

// SourceTags returns a source object's tags (GetObjectTagging of its version).
func (m *Minio) SourceTags(ctx context.Context, src SourceObject) (map[string]string, error) {
	if err := checkBucket(src.Bucket); err != nil {
		return nil, fmt.Errorf("storage: tags of %s: %w", src, err)
	}
	t, err := m.core.GetObjectTagging(ctx, src.Bucket, src.Key, minio.GetObjectTaggingOptions{VersionID: src.VersionID})
	if err != nil {
		return nil, fmt.Errorf("storage: tags of %s: %w", src, translate(err))
	}
	return t.ToMap(), nil
}

// ReadSource fills buf with src's bytes at off: one ranged GET with If-Match: src.ETag (and
// versionId). A changed object answers ErrPreconditionFailed; fewer bytes than asked for is
// an error (the object is shorter than planned).
func (m *Minio) ReadSource(ctx context.Context, src SourceObject, off int64, buf []byte) error {
	if err := checkBucket(src.Bucket); err != nil {
		return fmt.Errorf("storage: read %s: %w", src, err)
	}
	if len(buf) == 0 {
		return nil
	}
	opts := minio.GetObjectOptions{VersionID: src.VersionID}
	if err := opts.SetRange(off, off+int64(len(buf))-1); err != nil {
		return fmt.Errorf("storage: read %s: %w", src, err)
	}
	if src.ETag != "" {
		_ = opts.SetMatchETag(src.ETag) // not empty
	}
	body, _, _, err := m.core.GetObject(ctx, src.Bucket, src.Key, opts)
	if err != nil {
		return fmt.Errorf("storage: read %s at %d: %w", src, off, translate(err))
	}
	defer body.Close()
	if _, err := io.ReadFull(body, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fmt.Errorf("storage: read %s at %d: %w: %w", src, off, ErrShortRead, err)
		}
		return fmt.Errorf("storage: read %s at %d: %w", src, off, translate(err))
	}
	return nil
}

// ErrShortRead: a ranged read returned fewer bytes than the range holds.
var ErrShortRead = errors.New("short read")

// CopyPart implements Copier.
func (m *Minio) CopyPart(ctx context.Context, dst Object, uploadID string, number int, src SourceObject, off, length int64, opts ObjectOptions) (Part, error) {
	if err := checkBucket(dst.Bucket); err != nil {
		return Part{}, fmt.Errorf("storage: copy part %d of %s: %w", number, dst, err)
	}
	if number < 1 || number > MaxParts {
		return Part{}, fmt.Errorf("storage: copy part %d of %s: part number not in [1, %d]", number, dst, MaxParts)
	}
	h, err := m.copyHeaders(src, opts.SSE)
	if err != nil {
		return Part{}, fmt.Errorf("storage: copy part %d of %s: %w", number, dst, err)
	}
	res, err := m.core.CopyObjectPart(ctx, src.Bucket, src.Key, dst.Bucket, dst.Key, uploadID, number, off, length, h)
	if err != nil {
		return Part{}, fmt.Errorf("storage: copy part %d of %s from %s: %w", number, dst, src, translate(err))
	}
	p := Part{Number: number, ETag: NormalizeETag(res.ETag), Size: length, CRC64NVME: res.ChecksumCRC64NVME}
	if p.ETag == "" {
		return Part{}, fmt.Errorf("storage: copy part %d of %s: server returned no ETag", number, dst)
	}
	return p, nil
}

// CopyObject implements Copier.
func (m *Minio) CopyObject(ctx context.Context, dst Object, src SourceObject, opts ObjectOptions) (Part, error) {
	if err := checkBucket(dst.Bucket); err != nil {
		return Part{}, fmt.Errorf("storage: copy %s: %w", dst, err)
	}
	h, err := m.copyHeaders(src, opts.SSE)
	if err != nil {
		return Part{}, fmt.Errorf("storage: copy %s: %w", dst, err)
	}
	// Core.CopyObject sends the given headers as they are: the new object's properties.
	h["x-amz-metadata-directive"] = "REPLACE"
	ct := opts.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h["Content-Type"] = ct
	for k, v := range map[string]string{"Content-Encoding": opts.ContentEncoding,
		"Content-Disposition": opts.ContentDisposition, "Cache-Control": opts.CacheControl,
		"x-amz-storage-class": opts.StorageClass} {
		if v != "" {
			h[k] = v
		}
	}
	for k, v := range opts.Metadata {
		h["x-amz-meta-"+k] = v
	}
	dstOpts := minio.PutObjectOptions{}
	if len(opts.Tags) > 0 {
		h["x-amz-tagging-directive"] = "REPLACE"
		dstOpts.UserTags = opts.Tags
	}
	if opts.SSE.Type != "" && opts.SSE.Type != SSEC {
		sse, err := m.sse(opts.SSE)
		if err != nil {
			return Part{}, fmt.Errorf("storage: copy %s: %w", dst, err)
		}
		hh := http.Header{}
		sse.Marshal(hh)
		for k := range hh {
			h[k] = hh.Get(k)
		}
	}
	info, err := m.core.CopyObject(ctx, src.Bucket, src.Key, dst.Bucket, dst.Key, h,
		minio.CopySrcOptions{Bucket: src.Bucket, Object: src.Key, VersionID: src.VersionID}, dstOpts)
	if err != nil {
		return Part{}, fmt.Errorf("storage: copy %s from %s: %w", dst, src, translate(err))
	}
	return Part{Number: 1, ETag: NormalizeETag(info.ETag)}, nil
}

// copyHeaders are the headers that name and pin a copy's source, plus the destination's
// SSE-C key when it has one (a part of an SSE-C upload must carry it).
func (m *Minio) copyHeaders(src SourceObject, dstSSE SSE) (map[string]string, error) {
	if err := s3utils.CheckValidObjectName(src.Key); err != nil {
		return nil, fmt.Errorf("source key %q: %w", src.Key, err)
	}
	h := map[string]string{}
	source := s3utils.EncodePath(src.Bucket + "/" + src.Key)
	if src.VersionID != "" {
		source += "?versionId=" + src.VersionID
	}
	h["x-amz-copy-source"] = source
	if src.ETag != "" {
		h["x-amz-copy-source-if-match"] = `"` + src.ETag + `"`
	}
	if dstSSE.Type == SSEC {
		sse, err := m.sse(dstSSE)
		if err != nil {
			return nil, err
		}
		hh := http.Header{}
		sse.Marshal(hh)
		for k := range hh {
			h[k] = hh.Get(k)
		}
		if sse.Type() != encrypt.SSEC {
			return nil, errors.New("SSE-C key expected")
		}
	}
	return h, nil
}

// ListedObject is one object of a listing.
type ListedObject struct {
	Key          string
	Size         int64
	ETag         string
	LastModified time.Time
}

// ListObjects lists the objects of bucket whose keys start with prefix, in key order, from
// the first key after startAfter (empty: from the start), one ListObjectsV2 page (pageSize
// keys, 0: the server's 1000) at a time: memory stays flat however long the listing. Keys
// ending in "/" with no bytes (folder markers) are left out. The first error ends the
// sequence.
func (m *Minio) ListObjects(ctx context.Context, bucket, prefix, startAfter string, pageSize int) iter.Seq2[ListedObject, error] {
	return func(yield func(ListedObject, error) bool) {
		if err := checkBucket(bucket); err != nil {
			yield(ListedObject{}, fmt.Errorf("storage: list %s: %w", bucket, err))
			return
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel() // stops minio-go's lister when the caller breaks off
		for o := range m.core.ListObjectsIter(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix,
			StartAfter: startAfter, Recursive: true, MaxKeys: pageSize}) {
			if o.Err != nil {
				yield(ListedObject{}, fmt.Errorf("storage: list %s/%s after %q: %w", bucket, prefix, startAfter, translate(o.Err)))
				return
			}
			if strings.HasSuffix(o.Key, "/") && o.Size == 0 {
				continue
			}
			if !yield(ListedObject{Key: o.Key, Size: o.Size, ETag: strings.Trim(o.ETag, `"`), LastModified: o.LastModified}, nil) {
				return
			}
		}
	}
}
