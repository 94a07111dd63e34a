package source

import (
	"context"
	"fmt"
	"strings"
)

// Mux reads each source with the reader for its form: http:// and https:// URLs with URL,
// s3://bucket/key with S3, anything else with Volume. A nil reader refuses its sources with ErrForbidden and a message
// that says how to enable them: every worker should be configured alike, since any worker may
// run any upload's tasks.
type Mux struct {
	Volume Reader // paths relative to the volume root; nil when the worker has no volume
	URL    Reader // http(s) URLs; nil when the worker allows no URL hosts
	S3     Reader // s3://bucket/key; nil when the worker has no source store
}

var _ Reader = Mux{}

// Stat returns the source's size and fingerprint.
func (m Mux) Stat(ctx context.Context, src string) (Info, error) {
	r, err := m.pick(src)
	if err != nil {
		return Info{}, err
	}
	return r.Stat(ctx, src)
}

// ReadAt fills buf with the source's bytes at off.
func (m Mux) ReadAt(ctx context.Context, src string, want Info, off int64, buf []byte) error {
	r, err := m.pick(src)
	if err != nil {
		return err
	}
	return r.ReadAt(ctx, src, want, off, buf)
}

func (m Mux) pick(src string) (Reader, error) {
	switch {
	case IsURL(src):
		if m.URL == nil {
			u, err := CheckURL(src)
			if err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("source: %s: URL sources are not enabled on this worker: set --allow-url-host: %w",
				Redact(u), ErrForbidden)
		}
		return m.URL, nil
	case IsS3(src):
		if m.S3 == nil {
			if _, err := ParseS3(src); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("source: %s: S3 sources are not enabled on this worker: set --source-s3-endpoint: %w",
				src, ErrForbidden)
		}
		return m.S3, nil
	case strings.Contains(src, "://"):
		scheme, _, _ := strings.Cut(src, "://")
		return nil, fmt.Errorf("source: %.20q: only http:// and https:// URLs and s3:// sources are supported: %w", scheme+"://…", ErrInvalid)
	case m.Volume == nil:
		if _, err := CleanPath(src); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("source: %s: volume sources are not enabled on this worker: set --volume-root: %w",
			src, ErrForbidden)
	}
	return m.Volume, nil
}
