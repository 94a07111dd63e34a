// Package storage is partflow's boundary to S3: the narrow Multipart
// interface listing only the S3 calls partflow makes, its implementation
// Minio on minio-go's low-level *minio.Core, the S3 error sentinels, and
// part-size planning (PlanParts).
//
// # Configuration
//
// A Config names the endpoint ("http://host:port" or "https://host:port"),
// the credentials and the region (default us-east-1); NewMinio validates
// it, naming the bad field. Static keys are optional: without them the
// client uses minio-go's credential chain (environment with session token,
// shared credentials files and profile, web identity via STS, ECS/EKS
// container credentials, instance metadata), whose temporary credentials
// are renewed before they expire. BucketLookup chooses path-style
// (http://host/bucket/key), virtual-hosted (bucket.host) or auto (virtual-
// hosted for AWS and other known clouds); CABundle adds trusted CAs, and a
// failed TLS handshake is reported as ErrTLS with what to check. The
// default transport keeps MaxIdleConns connections per host alive
// (default 16; the worker sets it to its concurrency), speaks HTTP/1.1 so
// parallel parts use parallel connections, and waits up to
// ResponseHeaderTimeout (default 1 hour) for a response: Complete answers
// only when the object is assembled. The secret key, the session token and
// SSE-C keys never appear in errors or in Config's String output.
//
// ObjectOptions set content type, metadata, Cache-Control, Content-Encoding,
// Content-Disposition, storage class, tags and server-side encryption
// (SSE-S3, SSE-KMS, SSE-C). An SSE-C key is given or named: a named key is
// read from Config.SSECKeyDir, and goes with every request on the object.
//
// The credentials need these S3 permissions on the buckets written to:
//
//	s3:PutObject                    CreateUpload, UploadPart, CompleteUpload, PutObject
//	s3:PutObjectTagging             objects created with tags
//	s3:AbortMultipartUpload         AbortUpload
//	s3:ListMultipartUploadParts     ListParts
//	s3:ListBucketMultipartUploads   ListUploads
//	s3:GetObject                    StatObject (a HEAD request)
//	s3:ListBucket                   BucketExists (a HEAD on the bucket), and
//	                                StatObject answering 404 instead of 403
//	                                for a missing key
//	kms:GenerateDataKey, kms:Decrypt  on the key, for SSE-KMS
//
// # Implementation
//
// Each part is one UploadPart request whose body is a *bytes.Reader: it is
// an io.Seeker, so minio-go rewinds and retries it itself after a network
// error, a 5xx or SlowDown (up to Config.MaxRetries tries). Parts and single
// PUTs carry Content-MD5 and are signed with UNSIGNED-PAYLOAD
// (DisableContentSha256): the MD5 already protects the body, and over plain
// HTTP minio-go would otherwise use streaming SigV4, a SHA-256 per 64 KiB
// chunk that costs the server about an eighth of its CPU.
//
// Integrity does not rest on ETags. ETags are MD5s of the body only on
// unencrypted buckets: AWS SSE-KMS, DSSE-KMS and SSE-C, MinIO with KMS or
// auto-encryption answer opaque ETags. So every part and PUT also carries an
// S3 additional checksum, a CRC-64/NVME (x-amz-checksum-crc64nvme), and a
// multipart upload is created for full-object CRC-64/NVME checksums: the
// server refuses a body that matches neither (ErrBadDigest), and after
// Complete the object's checksum (StatObject with checksum mode) must be the
// one the parts' checksums combine to (FullObjectCRC64NVME), which is also
// sent with Complete for the server to check. A server that refuses the
// checksum headers (400 or 501 NotImplemented, InvalidArgument,
// InvalidRequest) gets the same request again without them, once, and this
// client sends Content-MD5 only from then on (ChecksumsOff). The ETag the
// server returns is kept as it is (Complete needs it); where it is the MD5 of
// the body (Part.ETagIsMD5) the object's multipart ETag can be predicted with
// MultipartETag, "hex(md5(md5_1 || … || md5_N))-N".
//
// ETags are normalized everywhere: quotes trimmed, lowercase.
//
// ListParts and ListUploads walk every page. S3 error responses are
// translated into sentinel errors (ErrNoSuchUpload, ErrBadDigest, …) at this
// boundary; the translated error wraps both the sentinel and minio-go's
// minio.ErrorResponse, and reads like
//
//	storage: upload part 3 of bucket/key: bad digest: The Content-MD5 you specified did not match what we received. (BadDigest, HTTP 400)
//
// Permanent tells which errors retrying will not fix.
//
// PlanParts splits an object into parts of DefaultPartSize (16 MiB) unless
// told otherwise, at least MinPartSize (5 MiB) and at most MaxPartSize
// (5 GiB), and grows the part size to a whole number of MiB when the object
// would otherwise need more than MaxParts (10,000) parts. An object no larger
// than one part goes as one PutObject (Plan.SinglePut).
//
// # Considerations
//
// A part's body is held in memory while it is sent (and resent on a retry),
// so a worker needs about concurrency × part size bytes for bodies.
//
// Servers differ in how they answer a repeated or unknown Complete: MinIO
// and AWS answer NoSuchUpload (ErrNoSuchUpload), versitygw answers 200.
// Callers must not read ErrNoSuchUpload on Complete as failure before
// checking the object with StatObject.
//
// ErrNoSuchUpload is deliberately not Permanent: whether a vanished upload
// is fatal depends on what the caller did before. Aborting an upload that is
// still being written to may leave parts behind on some servers; the
// janitor should list uploads again later.
//
// minio-go retries 5xx and SlowDown answers itself; ErrSlowDown reaching a
// caller means those retries ran out, and the task should back off longer.
package storage
