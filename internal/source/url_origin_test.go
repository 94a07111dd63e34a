package source_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/source"
)

// origin is an httptest server serving one object with range support (http.ServeContent),
// recording every request; serve, when set, answers instead and may misbehave.
type origin struct {
	*httptest.Server
	mu       sync.Mutex
	data     []byte
	etag     string
	modified time.Time
	serve    func(w http.ResponseWriter, r *http.Request) bool // true: answered
	reqs     []*http.Request
}

func newOrigin(t *testing.T, size int) *origin {
	t.Helper()
	o := &origin{data: randomBytes(size, 1), etag: `"v1"`, modified: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	o.Server = httptest.NewServer(http.HandlerFunc(o.handle))
	t.Cleanup(o.Close)
	return o
}

func (o *origin) handle(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.reqs = append(o.reqs, r.Clone(context.Background()))
	serve, data, etag, modified := o.serve, o.data, o.etag, o.modified
	o.mu.Unlock()
	if serve != nil && serve(w, r) {
		return
	}
	if etag != "" {
		w.Header().Set("ETag", etag)
	}
	http.ServeContent(w, r, "", modified, bytes.NewReader(data))
}

// set changes the origin under lock.
func (o *origin) set(f func(o *origin)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	f(o)
}

func (o *origin) requests() []*http.Request {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*http.Request(nil), o.reqs...)
}

func randomBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// loopbackConfig allows the test origins: host 127.0.0.1 and that address.
func loopbackConfig() source.URLConfig {
	return source.URLConfig{
		AllowHosts: []string{"127.0.0.1"},
		AllowAddrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Timeout:    5 * time.Second,
	}
}

func newReader(t *testing.T, cfg source.URLConfig) *source.URLReader {
	t.Helper()
	r, err := source.NewURLReader(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// resolveTo returns a Resolver that answers names[host], or an error for other hosts.
func resolveTo(names map[string][]string) func(context.Context, string) ([]netip.Addr, error) {
	return func(_ context.Context, host string) ([]netip.Addr, error) {
		var out []netip.Addr
		for _, a := range names[host] {
			out = append(out, netip.MustParseAddr(a))
		}
		if len(out) == 0 {
			return nil, &noSuchHostError{host}
		}
		return out, nil
	}
}

type noSuchHostError struct{ host string }

func (e *noSuchHostError) Error() string { return "no such host " + e.host }
