package storage

import (
	"context"
	"time"
)

// Object names one object.
type Object struct{ Bucket, Key string }

// String returns "bucket/key".
func (o Object) String() string { return o.Bucket + "/" + o.Key }

// ObjectOptions are the properties an object is created with. The SSE-C key
// (SSE.CustomerKey) must also be given to every later call on the object
// (UploadPart, CompleteUpload, StatObject); the rest matters only at
// creation (CreateUpload, PutObject).
type ObjectOptions struct {
	// ContentType defaults to application/octet-stream.
	ContentType string
	// Metadata is user metadata, keys without the x-amz-meta- prefix.
	Metadata map[string]string
	// ContentEncoding, ContentDisposition and CacheControl become the
	// object's headers of the same names.
	ContentEncoding    string
	ContentDisposition string
	CacheControl       string
	// StorageClass is the x-amz-storage-class, e.g. STANDARD_IA; empty: the
	// bucket's default.
	StorageClass string
	// Tags are the object's tags (x-amz-tagging).
	Tags map[string]string
	// SSE asks for server-side encryption.
	SSE SSE
}

// SSE kinds.
const (
	SSES3  = "AES256"  // SSE-S3: keys managed by S3
	SSEKMS = "aws:kms" // SSE-KMS, with an optional key ID
	SSEC   = "SSE-C"   // a customer key sent with every request
)

// SSE is a server-side encryption setting. The zero value asks for none (the
// bucket's default applies).
type SSE struct {
	// Type is "", SSES3, SSEKMS or SSEC.
	Type string
	// KMSKeyID is the KMS key for SSEKMS; empty: the account's default key.
	KMSKeyID string
	// CustomerKey is the 32-byte key for SSEC. It is never logged or shown.
	CustomerKey []byte
	// CustomerKeyName names a file in Config.SSECKeyDir holding the SSEC key
	// (32 raw bytes, or their base64), read when CustomerKey is empty: what an
	// upload record stores instead of the key.
	CustomerKeyName string
}

// Part is one uploaded part of a multipart upload.
type Part struct {
	Number int
	// ETag is the part's ETag as the server returned it, normalized. It is the
	// hex MD5 of the part's bytes only on some servers: encrypted buckets
	// (SSE-KMS, SSE-C, MinIO with KMS) answer opaque ETags. Complete needs it.
	ETag string
	Size int64
	// MD5 is the hex MD5 of the bytes that were sent (and checked by the
	// server through Content-MD5); empty when unknown (a part listed from S3).
	MD5 string
	// CRC64NVME is the base64 CRC-64/NVME additional checksum of the part
	// (x-amz-checksum-crc64nvme); empty when it was not sent.
	CRC64NVME string
}

// ETagIsMD5 reports whether the part's ETag is the MD5 of its bytes, so that
// the object's multipart ETag can be predicted (MultipartETag).
func (p Part) ETagIsMD5() bool { return p.MD5 != "" && p.ETag == p.MD5 }

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Size int64
	// ETag is normalized (no quotes, lowercase): "<md5 hex>" for a single PUT,
	// "<hex>-<parts>" for a multipart upload.
	ETag         string
	ContentType  string
	LastModified time.Time
	// CRC64NVME is the object's full-object CRC-64/NVME checksum (base64) when
	// the server stored one (the object was uploaded with additional
	// checksums); empty otherwise.
	CRC64NVME string
	// ChecksumType is the server's x-amz-checksum-type: FULL_OBJECT,
	// COMPOSITE, or empty.
	ChecksumType string
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
	// DisableContentSha256) and, unless the server refuses them, a CRC-64/NVME
	// additional checksum, from a seekable reader so the SDK can retry. The
	// server refuses a body that does not match either (ErrBadDigest). It
	// returns the part with the ETag the server gave, whatever it looks like.
	// body is never read after UploadPart returns: the caller may reuse it.
	UploadPart(ctx context.Context, obj Object, uploadID string, number int, body []byte, opts ObjectOptions) (Part, error)
	// ListParts returns the parts uploaded so far, walking all pages.
	ListParts(ctx context.Context, obj Object, uploadID string) ([]Part, error)
	// CompleteUpload assembles parts (sorted by number) into the object and
	// returns its normalized ETag. When every part has a CRC64NVME, they are
	// sent too, with the full-object checksum they add up to, which the
	// server checks.
	CompleteUpload(ctx context.Context, obj Object, uploadID string, parts []Part, opts ObjectOptions) (etag string, err error)
	// AbortUpload discards an upload and its parts.
	AbortUpload(ctx context.Context, obj Object, uploadID string) error
	// PutObject stores body with one PUT carrying Content-MD5 and (unless
	// the server refuses them) a CRC-64/NVME checksum. The returned Part
	// (number 1) has the server's ETag. body is never read after PutObject returns.
	PutObject(ctx context.Context, obj Object, body []byte, opts ObjectOptions) (Part, error)
	// StatObject returns an object's size, ETag, content type, mtime and
	// full-object checksum (when the server keeps one).
	StatObject(ctx context.Context, obj Object, opts ObjectOptions) (ObjectInfo, error)
	// ListUploads returns the incomplete multipart uploads whose keys start
	// with prefix, walking all pages.
	ListUploads(ctx context.Context, bucket, prefix string) ([]Upload, error)
	// BucketExists reports whether bucket exists and is reachable.
	BucketExists(ctx context.Context, bucket string) (bool, error)
}
