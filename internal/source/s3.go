package source

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// S3Scheme starts an S3 source: s3://bucket/key, read from the workers' source store.
const S3Scheme = "s3://"

// IsS3 reports whether src is an s3:// source.
func IsS3(src string) bool { return hasPrefixFold(src, S3Scheme) }

// S3Location is a bucket and a key (or a key prefix) of an S3 source.
type S3Location struct{ Bucket, Key string }

// String returns s3://bucket/key.
func (l S3Location) String() string { return S3Scheme + l.Bucket + "/" + l.Key }

// ParseS3 splits s3://bucket/key. The key is everything after the bucket's slash, taken
// literally (no percent-decoding: S3 keys may hold any character); it must not be empty. The
// bucket must follow S3's naming rules (3 to 63 lower-case letters, digits, dots and hyphens,
// starting and ending with a letter or digit, not an IP address).
func ParseS3(src string) (S3Location, error) {
	loc, err := parseS3(src)
	if err != nil {
		return S3Location{}, err
	}
	if loc.Key == "" {
		return S3Location{}, fmt.Errorf("source: %.80q: want s3://bucket/key, the key is empty: %w", src, ErrInvalid)
	}
	return loc, nil
}

// ParseS3Prefix splits s3://bucket/prefix for a listing; the prefix may be empty (the whole
// bucket).
func ParseS3Prefix(src string) (S3Location, error) { return parseS3(src) }

func parseS3(src string) (S3Location, error) {
	if !IsS3(src) {
		return S3Location{}, fmt.Errorf("source: %.80q is not an s3:// source: %w", src, ErrInvalid)
	}
	rest := src[len(S3Scheme):]
	bucket, key, _ := strings.Cut(rest, "/")
	if err := checkBucketName(bucket); err != nil {
		return S3Location{}, fmt.Errorf("source: %.80q: %w: %w", src, err, ErrInvalid)
	}
	switch {
	case len(key) > 1024:
		return S3Location{}, fmt.Errorf("source: %.80q: the key is longer than 1024 bytes: %w", src, ErrInvalid)
	case !utf8.ValidString(key):
		return S3Location{}, fmt.Errorf("source: %.80q: the key is not UTF-8: %w", src, ErrInvalid)
	}
	return S3Location{Bucket: bucket, Key: key}, nil
}

// checkBucketName applies S3's bucket naming rules.
func checkBucketName(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket name %q must have 3 to 63 characters", b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		edge := i == 0 || i == len(b)-1
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '.' || c == '-') && !edge:
			if c == '.' && (b[i-1] == '.' || b[i-1] == '-' || b[i+1] == '-') {
				return fmt.Errorf("bucket name %q has a dot next to a dot or hyphen", b)
			}
		default:
			return fmt.Errorf("bucket name %q: only lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit", b)
		}
	}
	if _, err := netip.ParseAddr(b); err == nil {
		return fmt.Errorf("bucket name %q is an IP address", b)
	}
	return nil
}

// S3Fingerprint is what Stat fixed about an S3 source: its size, ETag and version. Every read
// and copy is pinned to them, so an overwritten object fails its upload as changed.
type S3Fingerprint struct {
	Size      int64
	ETag      string // as HeadObject returned it, quotes trimmed
	VersionID string // empty for an unversioned bucket
}

const s3FingerprintPrefix = "s3:"

// Info returns f as a source Info (without properties).
func (f S3Fingerprint) Info() Info {
	s := s3FingerprintPrefix + strconv.FormatInt(f.Size, 10)
	if f.VersionID != "" {
		s += ":version:" + f.VersionID
	}
	return Info{Size: f.Size, Fingerprint: s + ":etag:" + f.ETag}
}

// ParseS3Fingerprint reads back what S3Fingerprint.Info wrote.
func ParseS3Fingerprint(in Info) (S3Fingerprint, error) {
	bad := func() (S3Fingerprint, error) {
		return S3Fingerprint{}, fmt.Errorf("fingerprint %q was not made by an S3 source: %w", printable(in.Fingerprint), ErrInvalid)
	}
	rest, ok := strings.CutPrefix(in.Fingerprint, s3FingerprintPrefix)
	if !ok {
		return bad()
	}
	size, rest, _ := strings.Cut(rest, ":")
	f := S3Fingerprint{}
	if f.Size, ok = parseDigits(size); !ok || f.Size != in.Size {
		return bad()
	}
	if v, ok := strings.CutPrefix(rest, "version:"); ok {
		if f.VersionID, rest, ok = strings.Cut(v, ":"); !ok || f.VersionID == "" {
			return bad()
		}
	}
	if f.ETag, ok = strings.CutPrefix(rest, "etag:"); !ok || f.ETag == "" {
		return bad()
	}
	return f, nil
}
