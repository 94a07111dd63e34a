package storage

import (
	"bytes"
	"context"
	"io"

	"golang.org/x/time/rate"
)

// throttledReader is a *bytes.Reader whose reads wait for a shared rate limiter. It stays an
// io.Seeker, so minio-go can still rewind it to retry a request.
type throttledReader struct {
	*bytes.Reader
	ctx     context.Context
	limiter *rate.Limiter
}

func (r *throttledReader) Read(p []byte) (int, error) {
	if len(p) > r.limiter.Burst() {
		p = p[:r.limiter.Burst()]
	}
	n, err := r.Reader.Read(p)
	if n > 0 {
		if werr := r.limiter.WaitN(r.ctx, n); werr != nil {
			return n, werr
		}
	}
	return n, err
}

// body returns the reader a request sends: the bytes themselves, or throttled by the
// worker's bandwidth limit.
func (m *Minio) body(ctx context.Context, b []byte) io.ReadSeeker {
	if m.limiter == nil {
		return bytes.NewReader(b)
	}
	return &throttledReader{Reader: bytes.NewReader(b), ctx: ctx, limiter: m.limiter}
}
