package storage

import (
	"context"
	"time"
)

// Object names one object.
type Object struct{ Bucket, Key string }

// String returns "bucket/key".
func (o Object) String() string { return o.Bucket + "/" + o.Key }

// ObjectOptions are the properties an object is created with.
type ObjectOptions struct {
	// ContentType defaults to application/octet-stream.
	ContentType string
	// Metadata is user metadata, keys without the x-amz-meta- prefix.
	Metadata map[string]string
}

// Part is one uploaded part of a multipart upload.
type Part struct {
	Number int
	ETag   string // lowercase hex MD5 of the part, no quotes
	Size   int64
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Size int64
	// ETag is normalized (no quotes, lowercase): "<md5 hex>" for a single PUT,
	// "<hex>-<parts>" for a multipart upload.
	ETag         string
	ContentType  string
	LastModified time.Time
	// Metadata is the object's user metadata, keys without the x-amz-meta- prefix and in
	// lower case.
	Metadata map[string]string
}

// Upload is an incomplete multipart upload.
type Upload struct {
	Object    Object
	UploadID  string
	Initiated time.Time
}

// Multipart lists only the S3 calls partflow uses.
//
// Every error that comes from an S3 error response wraps one of the
// package's sentinel errors when its code is known (test with errors.Is),
// and also the SDK's error.
type Multipart interface {
	// CreateUpload starts a multipart upload and returns its upload ID.
	CreateUpload(ctx context.Context, obj Object, opts ObjectOptions) (uploadID string, err error)
	// UploadPart sends body with Content-MD5 (UNSIGNED-PAYLOAD, i.e.
	// DisableContentSha256) from a seekable reader so the SDK can retry, and
	// checks that the returned ETag equals the body's MD5 (ErrETagMismatch).
	UploadPart(ctx context.Context, obj Object, uploadID string, number int, body []byte) (Part, error)
	// ListParts returns the parts uploaded so far, walking all pages.
	ListParts(ctx context.Context, obj Object, uploadID string) ([]Part, error)
	// CompleteUpload assembles parts (sorted by number) into the object and
	// returns its normalized ETag.
	CompleteUpload(ctx context.Context, obj Object, uploadID string, parts []Part) (etag string, err error)
	// AbortUpload discards an upload and its parts.
	AbortUpload(ctx context.Context, obj Object, uploadID string) error
	// PutObject stores body with one PUT carrying Content-MD5 and checks
	// that the returned ETag equals the body's MD5 (ErrETagMismatch).
	PutObject(ctx context.Context, obj Object, body []byte, opts ObjectOptions) (etag string, err error)
	// StatObject returns an object's size, ETag, content type and mtime.
	StatObject(ctx context.Context, obj Object) (ObjectInfo, error)
	// ListUploads returns the incomplete multipart uploads whose keys start
	// with prefix, walking all pages.
	ListUploads(ctx context.Context, bucket, prefix string) ([]Upload, error)
	// BucketExists reports whether bucket exists and is reachable.
	BucketExists(ctx context.Context, bucket string) (bool, error)
}
