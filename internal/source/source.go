// Package source reads the bytes partflow uploads: files on the shared volume (Volume) and
// http(s) URLs (URLReader); Mux picks one by the source's form, handing s3://bucket/key
// sources to an S3 reader (internal/s3source, which speaks S3 through storage). A source is fixed by a
// fingerprint when its upload is planned; every read checks the fingerprint again, so a source
// that changes mid-upload is detected instead of producing an object stitched from two versions.
package source

import (
	"context"
	"errors"
)

// Errors a source returns. All of them are permanent: retrying does not help.
var (
	ErrInvalid    = errors.New("invalid source")     // malformed path or URL, escapes the volume root
	ErrNotFound   = errors.New("source not found")   // no such file
	ErrNotRegular = errors.New("not a regular file") // a directory, device, socket, ...
	ErrChanged    = errors.New("source changed")     // the fingerprint no longer matches
	ErrShort      = errors.New("source shorter than planned")
	ErrForbidden  = errors.New("source not allowed")                     // by the worker's policy: host, address, redirect, not enabled
	ErrRejected   = errors.New("source server refused the request")      // 4xx such as 401 or 403
	ErrProtocol   = errors.New("source server broke the range protocol") // ignored Range, wrong Content-Range or length
)

// Permanent reports whether err is one that retrying cannot fix.
func Permanent(err error) bool {
	for _, e := range []error{ErrInvalid, ErrNotFound, ErrNotRegular, ErrChanged, ErrShort,
		ErrForbidden, ErrRejected, ErrProtocol} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Info describes a source at one moment.
type Info struct {
	Size        int64
	Fingerprint string // changes whenever the content may have changed
	// Props are the object properties the source carries over (S3 sources); nil for others.
	Props *Props
}

// Props are properties of a source object that its copy takes over unless the upload sets
// its own: what HeadObject (and, when enabled, GetObjectTagging) said about an S3 source.
type Props struct {
	ContentType                                       string
	Metadata                                          map[string]string // keys in lower case, without x-amz-meta-
	ContentEncoding, ContentDisposition, CacheControl string
	Tags                                              map[string]string // nil unless the worker copies tags
}

// Reader reads sources named by strings (a volume path or a URL).
type Reader interface {
	// Stat returns the source's size and fingerprint.
	Stat(ctx context.Context, src string) (Info, error)
	// ReadAt fills buf with the bytes at offset off, failing with ErrChanged if the source no
	// longer matches want.
	ReadAt(ctx context.Context, src string, want Info, off int64, buf []byte) error
}
