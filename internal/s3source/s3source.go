// Package s3source reads s3://bucket/key sources from an S3-compatible store configured on
// the workers (the source store, not the destination), and lists a source prefix.
//
// # Configuration
//
// Reader takes a Store (a *storage.Minio built from the worker's --source-s3-* flags, with
// its own endpoint, region and credentials). With CopyTags, Stat also reads the object's tags,
// so that its copy gets them.
//
// # Implementation
//
// Stat is a HeadObject: size, ETag, version ID, content type, user metadata (and tags). The
// fingerprint (source.S3Fingerprint) pins the ETag and the version; every part is one ranged
// GET with If-Match: <ETag> and versionId, so an object overwritten mid-upload answers 412 and
// fails its upload as changed (source.ErrChanged) instead of mixing two versions. A missing
// object or bucket (404) and a refused request (403) are permanent; 5xx, timeouts and broken
// connections are retried (minio-go retries first, then the task).
//
// Lister lists a prefix with ListObjectsV2 one page at a time after a start key: memory stays
// flat for millions of keys, and a listing cut short resumes after the last key it handed out.
//
// # Considerations
//
// The source credentials need s3:GetObject (and s3:GetObjectVersion for a versioned bucket,
// s3:GetObjectTagging with CopyTags) on the objects and s3:ListBucket to list a prefix.
package s3source

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/storage"
)

// Store lists only the S3 calls a source needs; *storage.Minio is one.
type Store interface {
	HeadSource(ctx context.Context, obj storage.Object) (storage.SourceInfo, error)
	SourceTags(ctx context.Context, src storage.SourceObject) (map[string]string, error)
	ReadSource(ctx context.Context, src storage.SourceObject, off int64, buf []byte) error
	ListObjects(ctx context.Context, bucket, prefix, startAfter string, pageSize int) iter.Seq2[storage.ListedObject, error]
}

var _ Store = (*storage.Minio)(nil)

// Config configures a Reader.
type Config struct {
	// Store is the source store. Required.
	Store Store
	// CopyTags makes Stat read the object's tags (GetObjectTagging), for its copy.
	CopyTags bool
}

// Reader reads s3://bucket/key sources.
type Reader struct {
	store    Store
	copyTags bool
}

var _ source.Reader = (*Reader)(nil)

// New returns a Reader for cfg.
func New(cfg Config) (*Reader, error) {
	if cfg.Store == nil {
		return nil, errors.New("s3source: Config.Store is required")
	}
	return &Reader{store: cfg.Store, copyTags: cfg.CopyTags}, nil
}

// Stat implements source.Reader: one HeadObject (and GetObjectTagging with CopyTags).
func (r *Reader) Stat(ctx context.Context, src string) (source.Info, error) {
	loc, err := source.ParseS3(src)
	if err != nil {
		return source.Info{}, err
	}
	hi, err := r.store.HeadSource(ctx, storage.Object{Bucket: loc.Bucket, Key: loc.Key})
	if err != nil {
		return source.Info{}, classify(src, err)
	}
	if hi.ETag == "" {
		return source.Info{}, fmt.Errorf("s3source: %s: the server gave no ETag, so reads cannot be pinned: %w", src, source.ErrProtocol)
	}
	fp := source.S3Fingerprint{Size: hi.Size, ETag: hi.ETag, VersionID: hi.VersionID}
	info := fp.Info()
	info.Props = &source.Props{ContentType: hi.ContentType, Metadata: hi.Metadata, ContentEncoding: hi.ContentEncoding,
		ContentDisposition: hi.ContentDisposition, CacheControl: hi.CacheControl}
	if r.copyTags {
		tags, err := r.store.SourceTags(ctx, pinned(loc, fp))
		if err != nil {
			return source.Info{}, classify(src, err)
		}
		info.Props.Tags = tags
	}
	return info, nil
}

// ReadAt implements source.Reader: one ranged GET pinned to want's ETag and version.
func (r *Reader) ReadAt(ctx context.Context, src string, want source.Info, off int64, buf []byte) error {
	loc, err := source.ParseS3(src)
	if err != nil {
		return err
	}
	fp, err := source.ParseS3Fingerprint(want)
	if err != nil {
		return fmt.Errorf("s3source: %s: %w", src, err)
	}
	if off < 0 || off+int64(len(buf)) > fp.Size {
		return fmt.Errorf("s3source: %s: range [%d, %d) outside the planned %d bytes: %w", src, off, off+int64(len(buf)), fp.Size, source.ErrShort)
	}
	if err := r.store.ReadSource(ctx, pinned(loc, fp), off, buf); err != nil {
		return classify(src, err)
	}
	return nil
}

// Object returns the source object an s3:// source and its fingerprint name, pinned to the
// ETag and version seen at plan time: what a server-side copy of it sends.
func Object(src string, want source.Info) (storage.SourceObject, error) {
	loc, err := source.ParseS3(src)
	if err != nil {
		return storage.SourceObject{}, err
	}
	fp, err := source.ParseS3Fingerprint(want)
	if err != nil {
		return storage.SourceObject{}, fmt.Errorf("s3source: %s: %w", src, err)
	}
	return pinned(loc, fp), nil
}

func pinned(loc source.S3Location, fp source.S3Fingerprint) storage.SourceObject {
	return storage.SourceObject{Bucket: loc.Bucket, Key: loc.Key, VersionID: fp.VersionID, ETag: fp.ETag}
}

// Classify maps a storage error about an S3 source (a read, or a server-side copy of it) to
// the source package's sentinels: a changed object (412) is source.ErrChanged, a missing one
// source.ErrNotFound, a refused request source.ErrRejected, all permanent; anything else is
// returned as it is (retried).
func Classify(src string, err error) error { return classify(src, err) }

func classify(src string, err error) error {
	switch {
	case errors.Is(err, storage.ErrPreconditionFailed):
		return fmt.Errorf("s3source: %s: the object was overwritten since the upload was planned: %w: %w", src, source.ErrChanged, err)
	case errors.Is(err, storage.ErrNoSuchKey), errors.Is(err, storage.ErrNoSuchBucket):
		return fmt.Errorf("s3source: %s: %w: %w", src, source.ErrNotFound, err)
	case errors.Is(err, storage.ErrAccessDenied), errors.Is(err, storage.ErrInvalidBucketName):
		return fmt.Errorf("s3source: %s: %w: %w", src, source.ErrRejected, err)
	}
	return fmt.Errorf("s3source: %s: %w", src, err)
}

// Entry is one object of a listed prefix.
type Entry struct {
	// Source is the object as a source, s3://bucket/key.
	Source string
	// Key is the object's key below the listed prefix: the migration's key for it, and the
	// cursor a resumed listing starts after.
	Key     string
	Size    int64
	ModTime time.Time
	// ETag as listed (without quotes), for a fingerprint; reads pin the one HeadObject sees.
	ETag string
}

// Lister lists the objects below an s3://bucket/prefix of the source store.
type Lister struct {
	store    Store
	loc      source.S3Location
	pageSize int
}

// NewLister returns a Lister of prefix, s3://bucket/ or s3://bucket/some/prefix/ (a prefix
// is a plain key prefix: "logs" also lists "logs2/x"). pageSize is the keys per
// ListObjectsV2 request, 0 for the server's default (1000).
func NewLister(store Store, prefix string, pageSize int) (*Lister, error) {
	if store == nil {
		return nil, errors.New("s3source: NewLister: no store")
	}
	loc, err := source.ParseS3Prefix(prefix)
	if err != nil {
		return nil, err
	}
	if pageSize < 0 || pageSize > 1000 {
		return nil, fmt.Errorf("s3source: NewLister: page size %d not in [0, 1000]", pageSize)
	}
	return &Lister{store: store, loc: loc, pageSize: pageSize}, nil
}

// List yields the objects after the one whose Entry.Key is after (empty: from the first), in
// key order, one page in memory at a time. The first error ends it: resume with the last Key
// received. An error is permanent (source.Permanent) when the bucket is missing or the
// listing refused.
func (l *Lister) List(ctx context.Context, after string) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		start := ""
		if after != "" {
			start = l.loc.Key + after
		}
		for o, err := range l.store.ListObjects(ctx, l.loc.Bucket, l.loc.Key, start, l.pageSize) {
			if err != nil {
				yield(Entry{}, classify(l.loc.String(), err))
				return
			}
			rel := strings.TrimPrefix(o.Key, l.loc.Key)
			if rel == "" {
				continue // the prefix itself names an object; it has no key below the prefix
			}
			e := Entry{Source: source.S3Location{Bucket: l.loc.Bucket, Key: o.Key}.String(), Key: rel,
				Size: o.Size, ModTime: o.LastModified, ETag: o.ETag}
			if !yield(e, nil) {
				return
			}
		}
	}
}

// Page returns up to n objects after the one whose Key is after, the cursor to pass next
// (the last Key returned, or after when none was), and whether the listing ended (fewer than n
// were left). It is List for a feeder that takes a listing in batches and checkpoints the
// cursor between them.
func (l *Lister) Page(ctx context.Context, after string, n int) (entries []Entry, next string, end bool, err error) {
	if n <= 0 {
		return nil, after, false, fmt.Errorf("s3source: page of %d entries", n)
	}
	next = after
	for e, err := range l.List(ctx, after) {
		if err != nil {
			return nil, after, false, err
		}
		entries = append(entries, e)
		next = e.Key
		if len(entries) == n {
			return entries, next, false, nil
		}
	}
	return entries, next, true, nil
}
