package storage

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/minio/minio-go/v7"
)

// Sentinel errors. S3 error responses are translated into these at the SDK
// boundary; test with errors.Is. The translated error also wraps the SDK's
// minio.ErrorResponse, so errors.As still reaches the server's code and
// request ID.
var (
	// ErrNoSuchUpload: the upload ID is unknown (aborted, completed, or
	// never existed). Whether that is fatal is the caller's decision.
	ErrNoSuchUpload = errors.New("no such upload")
	// ErrNoSuchBucket: the bucket does not exist.
	ErrNoSuchBucket = errors.New("no such bucket")
	// ErrNoSuchKey: the object does not exist (also a 404 to a HEAD, which
	// has no body and so no code).
	ErrNoSuchKey = errors.New("no such key")
	// ErrBadDigest: the body the server received does not match the
	// Content-MD5 or signed payload hash that was sent (BadDigest,
	// InvalidDigest, XAmzContentSHA256Mismatch): the bytes were damaged in
	// transit, so a retry may succeed.
	ErrBadDigest = errors.New("bad digest")
	// ErrInvalidPart: Complete named a part that is missing or has another
	// ETag, parts out of order, or a part smaller than the minimum
	// (InvalidPart, InvalidPartOrder, EntityTooSmall).
	ErrInvalidPart = errors.New("invalid part")
	// ErrAccessDenied: the credentials are wrong or lack a permission
	// (AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch; versitygw
	// says XAdminUserNotFound for an unknown access key).
	ErrAccessDenied = errors.New("access denied")
	// ErrInvalidBucketName: the bucket name is not valid.
	ErrInvalidBucketName = errors.New("invalid bucket name")
	// ErrSlowDown: the server asks to back off (SlowDown, 503
	// ServiceUnavailable), still answered so after the SDK's own retries.
	ErrSlowDown = errors.New("slow down")
)

// Permanent reports whether err is one that retrying the same request will
// not fix: a missing or badly named bucket, denied access, or an invalid
// part list. ErrNoSuchUpload is deliberately not classified here: after a
// crash it can mean an earlier attempt completed the upload, so callers
// decide.
func Permanent(err error) bool {
	for _, s := range []error{ErrNoSuchBucket, ErrAccessDenied, ErrInvalidBucketName, ErrInvalidPart, ErrNoKey} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// sentinelFor returns the sentinel for an S3 error response, or nil when
// its code has none.
func sentinelFor(resp minio.ErrorResponse) error {
	switch resp.Code {
	case "NoSuchUpload":
		return ErrNoSuchUpload
	case "NoSuchBucket":
		return ErrNoSuchBucket
	case "NoSuchKey", "NoSuchVersion":
		return ErrNoSuchKey
	case "BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch":
		return ErrBadDigest
	case "InvalidPart", "InvalidPartOrder", "EntityTooSmall":
		return ErrInvalidPart
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken",
		"XAdminUserNotFound": // versitygw's InvalidAccessKeyId
		return ErrAccessDenied
	case "InvalidBucketName":
		return ErrInvalidBucketName
	case "SlowDown", "ServiceUnavailable":
		return ErrSlowDown
	case "PreconditionFailed":
		return ErrPreconditionFailed
	}
	switch {
	case resp.StatusCode == http.StatusPreconditionFailed:
		return ErrPreconditionFailed
	case resp.StatusCode == http.StatusServiceUnavailable:
		return ErrSlowDown
	case resp.StatusCode == http.StatusNotFound && !hasCode(resp):
		return ErrNoSuchKey
	}
	return nil
}

// hasCode reports whether resp carries a real S3 error code rather than
// nothing or the HTTP status line minio-go falls back to.
func hasCode(resp minio.ErrorResponse) bool {
	return resp.Code != "" && resp.Code != http.StatusText(resp.StatusCode) &&
		resp.Code != fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
}

// translate turns an SDK error into one that wraps the matching sentinel and
// the SDK error, reading "<sentinel>: <server message> (<code>, HTTP <status>)".
// Errors that are no S3 error response (network, context) come back as they
// are. minio.ToErrorResponse does not unwrap, hence errors.As.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) {
		if t := tlsError(err); t != nil {
			return t
		}
		return err
	}
	detail := describe(resp)
	if s := sentinelFor(resp); s != nil {
		return fmt.Errorf("%w: %w%s", s, err, detail)
	}
	return fmt.Errorf("%w%s", err, detail)
}

// describe returns " (code, HTTP status)" for an error response, leaving out
// what is empty.
func describe(resp minio.ErrorResponse) string {
	switch {
	case resp.Code != "" && resp.StatusCode != 0:
		return fmt.Sprintf(" (%s, HTTP %d)", resp.Code, resp.StatusCode)
	case resp.Code != "":
		return " (" + resp.Code + ")"
	case resp.StatusCode != 0:
		return fmt.Sprintf(" (HTTP %d)", resp.StatusCode)
	}
	return ""
}

// ErrorStatus returns the HTTP status of the S3 error response err carries, and whether it
// carries one (false for network errors, timeouts and cancellations: no answer arrived).
func ErrorStatus(err error) (int, bool) {
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) || resp.StatusCode == 0 {
		return 0, false
	}
	return resp.StatusCode, true
}

// DestinationWide reports whether err will fail every request to the destination, not just
// this one: the bucket does not exist, or the credentials are refused (AccessDenied,
// InvalidAccessKeyId, SignatureDoesNotMatch). Callers stop sending instead of retrying.
func DestinationWide(err error) bool {
	return errors.Is(err, ErrNoSuchBucket) || errors.Is(err, ErrAccessDenied)
}
