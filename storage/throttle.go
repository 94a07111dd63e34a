package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"

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

// body returns the reader a request sends (the bytes themselves, or throttled by the
// worker's bandwidth limit and the limiters ctx carries, WithLimiter), guarded: the caller
// ends it before it returns, so that the bytes are never read after UploadPart or PutObject
// returned, and the caller may reuse them.
func (m *Minio) body(ctx context.Context, b []byte) *guardedBody {
	limiters, _ := ctx.Value(limitersKey{}).([]Limiter)
	maxRead := maxThrottledRead
	if m.limiter != nil {
		limiters = append(limiters[:len(limiters):len(limiters)], m.limiter)
		maxRead = min(maxRead, m.limiter.Burst())
	}
	var r io.ReadSeeker = bytes.NewReader(b)
	if len(limiters) > 0 {
		r = &throttledReader{Reader: bytes.NewReader(b), ctx: ctx, limiters: limiters, max: maxRead}
	}
	return &guardedBody{r: r}
}

// errBodyEnded is what a request body read after its call returned gets.
var errBodyEnded = errors.New("storage: request body read after its call returned")

// guardedBody is a request body that stops reading its bytes once ended. net/http may still
// read a request's body after RoundTrip returned (when the server answered before it took the
// whole body, the transport's writer can still be sending): after end returns, no read is in
// progress and none will touch the bytes again. It stays an io.Seeker, so minio-go can
// rewind it to retry a request.
type guardedBody struct {
	mu    sync.Mutex
	r     io.ReadSeeker
	ended bool
}

func (g *guardedBody) Read(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ended {
		return 0, errBodyEnded
	}
	return g.r.Read(p)
}

func (g *guardedBody) Seek(offset int64, whence int) (int64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ended {
		return 0, errBodyEnded
	}
	return g.r.Seek(offset, whence)
}

// end waits for a read in progress and refuses every later one.
func (g *guardedBody) end() {
	g.mu.Lock()
	g.ended = true
	g.mu.Unlock()
}
