package storage

import (
	"bytes"
	"context"
	"io"

	"golang.org/x/time/rate"
)

// Limiter paces the bytes sent in request bodies: WaitN blocks until n more bytes may go
// (or ctx ends). *rate.Limiter is one (a worker's own --bwlimit); a fleet-wide cap shared
// through Redis is another.
type Limiter interface {
	WaitN(ctx context.Context, n int) error
}

var _ Limiter = (*rate.Limiter)(nil)

type limitersKey struct{}

// WithLimiter returns ctx carrying l: the bodies of the requests made with it wait for l
// too (besides the client's own BandwidthLimit and limiters ctx carried already).
func WithLimiter(ctx context.Context, l Limiter) context.Context {
	prev, _ := ctx.Value(limitersKey{}).([]Limiter)
	return context.WithValue(ctx, limitersKey{}, append(prev[:len(prev):len(prev)], l))
}

// maxThrottledRead bounds one read of a throttled body, so the pace stays smooth.
const maxThrottledRead = 256 << 10

// throttledReader is a *bytes.Reader whose reads wait for shared limiters. It stays an
// io.Seeker, so minio-go can still rewind it to retry a request.
type throttledReader struct {
	*bytes.Reader
	ctx      context.Context
	limiters []Limiter
	max      int
}

func (r *throttledReader) Read(p []byte) (int, error) {
	if len(p) > r.max {
		p = p[:r.max]
	}
	n, err := r.Reader.Read(p)
	if n > 0 {
		for _, l := range r.limiters {
			if werr := l.WaitN(r.ctx, n); werr != nil {
				return n, werr
			}
		}
	}
	return n, err
}

// body returns the reader a request sends: the bytes themselves, or throttled by the
// worker's bandwidth limit and the limiters ctx carries (WithLimiter).
func (m *Minio) body(ctx context.Context, b []byte) io.ReadSeeker {
	limiters, _ := ctx.Value(limitersKey{}).([]Limiter)
	maxRead := maxThrottledRead
	if m.limiter != nil {
		limiters = append(limiters[:len(limiters):len(limiters)], m.limiter)
		maxRead = min(maxRead, m.limiter.Burst())
	}
	if len(limiters) == 0 {
		return bytes.NewReader(b)
	}
	return &throttledReader{Reader: bytes.NewReader(b), ctx: ctx, limiters: limiters, max: maxRead}
}
