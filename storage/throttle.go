package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"

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

// body returns the reader a request sends (the bytes themselves, or throttled by the
// worker's bandwidth limit), guarded: the caller ends it before it returns, so that the bytes
// are never read after UploadPart or PutObject returned, and the caller may reuse them.
func (m *Minio) body(ctx context.Context, b []byte) *guardedBody {
	var r io.ReadSeeker = bytes.NewReader(b)
	if m.limiter != nil {
		r = &throttledReader{Reader: bytes.NewReader(b), ctx: ctx, limiter: m.limiter}
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
