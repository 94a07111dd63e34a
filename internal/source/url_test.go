package source_test

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/source"
)

type retryAfter interface{ RetryAfter() time.Duration }

func TestURLReadsRanges(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, 1000)
	r := newReader(t, loopbackConfig())
	ctx := t.Context()
	src := o.URL + "/obj?X-Amz-Signature=secret"

	info, err := r.Stat(ctx, src)
	require.NoError(t, err)
	require.EqualValues(t, 1000, info.Size)
	require.Equal(t, `url:1000:etag:"v1"`, info.Fingerprint)

	for _, c := range []struct{ off, n int }{{0, 1}, {0, 1000}, {3, 400}, {999, 1}, {500, 500}} {
		buf := make([]byte, c.n)
		require.NoError(t, r.ReadAt(ctx, src, info, int64(c.off), buf), "%+v", c)
		require.Equal(t, o.data[c.off:c.off+c.n], buf, "%+v", c)
	}
	require.NoError(t, r.ReadAt(ctx, src, info, 1000, nil), "an empty read at the end needs no request")

	reqs := o.requests()
	require.Equal(t, http.MethodHead, reqs[0].Method)
	last := reqs[len(reqs)-1]
	require.Equal(t, http.MethodGet, last.Method)
	require.Equal(t, "bytes=500-999", last.Header.Get("Range"))
	require.Equal(t, `"v1"`, last.Header.Get("If-Match"))
	require.Equal(t, "identity", last.Header.Get("Accept-Encoding"))
	require.Equal(t, "partflow", last.Header.Get("User-Agent"))
	require.Equal(t, "X-Amz-Signature=secret", last.URL.RawQuery, "the query goes to the server")

	err = r.ReadAt(ctx, src, info, 990, make([]byte, 20))
	require.ErrorIs(t, err, source.ErrInvalid, "a read past the planned size is a caller bug")
}

func TestURLOverHTTPS(t *testing.T) {
	t.Parallel()
	data := randomBytes(5000, 2)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"tls"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	cfg := loopbackConfig()
	cfg.TLSConfig = &tls.Config{RootCAs: roots}
	r := newReader(t, cfg)

	info, err := r.Stat(t.Context(), srv.URL+"/x")
	require.NoError(t, err)
	buf := make([]byte, 100)
	require.NoError(t, r.ReadAt(t.Context(), srv.URL+"/x", info, 4900, buf))
	require.Equal(t, data[4900:], buf)
}

func TestURLFingerprintWithoutStrongETag(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, 100)
	o.set(func(o *origin) { o.etag = `W/"weak"` })
	r := newReader(t, loopbackConfig())
	ctx := t.Context()

	info, err := r.Stat(ctx, o.URL)
	require.NoError(t, err)
	require.Equal(t, "url:100:lm:Thu, 02 Jan 2025 03:04:05 GMT", info.Fingerprint, "a weak ETag cannot guard ranges")
	require.NoError(t, r.ReadAt(ctx, o.URL, info, 10, make([]byte, 10)))
	last := o.requests()[1]
	require.Empty(t, last.Header.Get("If-Match"))
	require.Equal(t, "Thu, 02 Jan 2025 03:04:05 GMT", last.Header.Get("If-Unmodified-Since"))

	o.set(func(o *origin) { o.modified = o.modified.Add(time.Hour) })
	err = r.ReadAt(ctx, o.URL, info, 10, make([]byte, 10))
	require.ErrorIs(t, err, source.ErrChanged, "If-Unmodified-Since fails: 412")
	require.True(t, source.Permanent(err))

	o.set(func(o *origin) { o.etag, o.modified = "", time.Time{} })
	info, err = r.Stat(ctx, o.URL)
	require.NoError(t, err)
	require.Equal(t, "url:100", info.Fingerprint, "no validators: the size alone")
	require.NoError(t, r.ReadAt(ctx, o.URL, info, 0, make([]byte, 100)))
}

func TestURLStatFallsBackToRangeGET(t *testing.T) {
	t.Parallel()
	for _, code := range []int{http.StatusMethodNotAllowed, http.StatusForbidden, http.StatusNotImplemented, 0} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			t.Parallel()
			o := newOrigin(t, 300)
			o.set(func(o *origin) {
				o.serve = func(w http.ResponseWriter, r *http.Request) bool {
					if r.Method != http.MethodHead {
						return false
					}
					if code == 0 { // 200 without a length
						w.Header().Set("Transfer-Encoding", "chunked")
						w.WriteHeader(http.StatusOK)
						return true
					}
					w.WriteHeader(code)
					return true
				}
			})
			r := newReader(t, loopbackConfig())
			info, err := r.Stat(t.Context(), o.URL)
			require.NoError(t, err)
			require.Equal(t, `url:300:etag:"v1"`, info.Fingerprint)
			reqs := o.requests()
			require.Len(t, reqs, 2)
			require.Equal(t, "bytes=0-0", reqs[1].Header.Get("Range"))
		})
	}

	t.Run("empty source", func(t *testing.T) {
		t.Parallel()
		o := newOrigin(t, 0)
		o.set(func(o *origin) {
			o.serve = func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodHead {
					w.WriteHeader(http.StatusMethodNotAllowed)
					return true
				}
				return false // ServeContent answers 416 "bytes */0"
			}
		})
		r := newReader(t, loopbackConfig())
		info, err := r.Stat(t.Context(), o.URL)
		require.NoError(t, err)
		require.Zero(t, info.Size)
		require.NoError(t, r.ReadAt(t.Context(), o.URL, info, 0, nil))
	})

	t.Run("no range support", func(t *testing.T) {
		t.Parallel()
		o := newOrigin(t, 50)
		o.set(func(o *origin) {
			o.serve = func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodHead {
					w.WriteHeader(http.StatusMethodNotAllowed)
					return true
				}
				w.Header().Set("ETag", `"v1"`)
				_, _ = w.Write(o.data) // 200, Range ignored
				return true
			}
		})
		r := newReader(t, loopbackConfig())
		info, err := r.Stat(t.Context(), o.URL)
		require.NoError(t, err)
		require.EqualValues(t, 50, info.Size)
		buf := make([]byte, 50)
		require.NoError(t, r.ReadAt(t.Context(), o.URL, info, 0, buf), "a whole read accepts 200")
		require.Equal(t, o.data, buf)
		err = r.ReadAt(t.Context(), o.URL, info, 10, make([]byte, 10))
		require.ErrorIs(t, err, source.ErrProtocol)
		require.Contains(t, err.Error(), "ignored the Range header")
	})
}

func TestURLDetectsChange(t *testing.T) {
	t.Parallel()
	ctx := t.Context()

	t.Run("new ETag, If-Match honoured", func(t *testing.T) {
		t.Parallel()
		o := newOrigin(t, 100)
		r := newReader(t, loopbackConfig())
		info, err := r.Stat(ctx, o.URL)
		require.NoError(t, err)
		o.set(func(o *origin) { o.etag, o.data = `"v2"`, randomBytes(100, 9) })
		err = r.ReadAt(ctx, o.URL, info, 0, make([]byte, 10))
		require.ErrorIs(t, err, source.ErrChanged)
		require.Contains(t, err.Error(), "412 Precondition Failed")
	})

	t.Run("new ETag, If-Match ignored", func(t *testing.T) {
		t.Parallel()
		o := newOrigin(t, 100)
		r := newReader(t, loopbackConfig())
		info, err := r.Stat(ctx, o.URL)
		require.NoError(t, err)
		o.set(func(o *origin) {
			o.serve = func(w http.ResponseWriter, r *http.Request) bool {
				r.Header.Del("If-Match")
				w.Header().Set("ETag", `"v2"`)
				http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(o.data))
				return true
			}
		})
		err = r.ReadAt(ctx, o.URL, info, 0, make([]byte, 10))
		require.ErrorIs(t, err, source.ErrChanged)
		require.Contains(t, err.Error(), `ETag is now "v2", was "v1"`)
	})

	t.Run("new size", func(t *testing.T) {
		t.Parallel()
		o := newOrigin(t, 100)
		o.set(func(o *origin) { o.etag = "" })
		r := newReader(t, loopbackConfig())
		info, err := r.Stat(ctx, o.URL)
		require.NoError(t, err)
		o.set(func(o *origin) { o.data = randomBytes(120, 3) })
		err = r.ReadAt(ctx, o.URL, info, 0, make([]byte, 10))
		require.ErrorIs(t, err, source.ErrChanged)
		require.Contains(t, err.Error(), "now 120 bytes, was 100")

		o.set(func(o *origin) { o.data = randomBytes(50, 3) })
		err = r.ReadAt(ctx, o.URL, info, 60, make([]byte, 10))
		require.ErrorIs(t, err, source.ErrShort, "416 for a range past the new end")
	})

	t.Run("a volume fingerprint", func(t *testing.T) {
		t.Parallel()
		o := newOrigin(t, 100)
		r := newReader(t, loopbackConfig())
		err := r.ReadAt(ctx, o.URL, source.Info{Size: 100, Fingerprint: "file:100:1"}, 0, make([]byte, 10))
		require.ErrorIs(t, err, source.ErrInvalid)
	})
}

// misbehave returns a serve function that answers GETs with a Range by f.
func misbehave(f func(w http.ResponseWriter, r *http.Request, data []byte)) func(*origin) {
	return func(o *origin) {
		data := o.data
		o.serve = func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method != http.MethodGet || r.Header.Get("Range") == "" {
				return false
			}
			w.Header().Set("ETag", `"v1"`)
			f(w, r, data)
			return true
		}
	}
}

func TestURLRangeProtocolViolations(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		serve   func(w http.ResponseWriter, r *http.Request, data []byte)
		want    error // nil: retryable
		message string
	}{
		{"ignores Range", func(w http.ResponseWriter, _ *http.Request, data []byte) {
			_, _ = w.Write(data)
		}, source.ErrProtocol, "ignored the Range header"},
		{"wrong Content-Range", func(w http.ResponseWriter, _ *http.Request, data []byte) {
			w.Header().Set("Content-Range", "bytes 0-9/100")
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data[:10])
		}, source.ErrProtocol, `answered Content-Range "bytes 0-9/100" for bytes=20-29`},
		{"no Content-Range", func(w http.ResponseWriter, _ *http.Request, data []byte) {
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data[20:30])
		}, source.ErrProtocol, "unusable Content-Range"},
		{"Content-Length disagrees", func(w http.ResponseWriter, _ *http.Request, data []byte) {
			w.Header().Set("Content-Range", "bytes 20-29/100")
			w.Header().Set("Content-Length", "12")
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data[20:32])
		}, source.ErrProtocol, "announced 12 bytes"},
		{"more bytes than asked", func(w http.ResponseWriter, _ *http.Request, data []byte) {
			w.Header().Set("Content-Range", "bytes 20-29/100")
			w.WriteHeader(http.StatusPartialContent)
			w.(http.Flusher).Flush() // chunked: no length to check up front
			_, _ = w.Write(data[20:31])
		}, source.ErrProtocol, "more than the 10 bytes"},
		{"compressed", func(w http.ResponseWriter, _ *http.Request, data []byte) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Content-Range", "bytes 20-29/100")
			w.WriteHeader(http.StatusPartialContent)
			zw := gzip.NewWriter(w)
			_, _ = zw.Write(data[20:30])
			_ = zw.Close()
		}, source.ErrProtocol, `"gzip"-encoded`},
		{"fewer bytes than promised", func(w http.ResponseWriter, _ *http.Request, data []byte) {
			w.Header().Set("Content-Range", "bytes 20-29/100")
			w.Header().Set("Content-Length", "10")
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data[20:25]) // the server closes the connection: 5 bytes short
		}, nil, "the response ended after 5 of 10 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o := newOrigin(t, 100)
			r := newReader(t, loopbackConfig())
			info, err := r.Stat(t.Context(), o.URL)
			require.NoError(t, err)
			o.set(misbehave(c.serve))
			buf := make([]byte, 10)
			err = r.ReadAt(t.Context(), o.URL, info, 20, buf)
			require.Error(t, err)
			require.Contains(t, err.Error(), c.message)
			if c.want != nil {
				require.ErrorIs(t, err, c.want)
				require.True(t, source.Permanent(err), "%v must be permanent", err)
			} else {
				require.False(t, source.Permanent(err), "%v must be retryable", err)
			}
		})
	}
}

func TestURLStatusErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		code       int
		retryAfter string
		want       error // nil: retryable
		wait       time.Duration
	}{
		{http.StatusNotFound, "", source.ErrNotFound, 0},
		{http.StatusGone, "", source.ErrNotFound, 0},
		{http.StatusUnauthorized, "", source.ErrRejected, 0},
		{http.StatusForbidden, "", source.ErrRejected, 0},
		{http.StatusTeapot, "", source.ErrRejected, 0},
		{http.StatusServiceUnavailable, "7", nil, 7 * time.Second},
		{http.StatusTooManyRequests, time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), nil, time.Hour},
		{http.StatusInternalServerError, "", nil, 0},
		{http.StatusBadGateway, "soon", nil, 0},
		{http.StatusRequestTimeout, "", nil, 0},
	}
	for _, c := range cases {
		t.Run(strconv.Itoa(c.code), func(t *testing.T) {
			t.Parallel()
			o := newOrigin(t, 100)
			o.set(func(o *origin) {
				o.serve = func(w http.ResponseWriter, r *http.Request) bool {
					if c.retryAfter != "" {
						w.Header().Set("Retry-After", c.retryAfter)
					}
					w.WriteHeader(c.code)
					_, _ = fmt.Fprint(w, "a body partflow must not quote")
					return true
				}
			})
			r := newReader(t, loopbackConfig())
			_, err := r.Stat(t.Context(), o.URL+"/k?token=abc")
			require.Error(t, err)
			require.Contains(t, err.Error(), strconv.Itoa(c.code)+" "+http.StatusText(c.code))
			require.Contains(t, err.Error(), o.URL+"/k?…", "the URL is named without its query")
			require.NotContains(t, err.Error(), "token=abc")
			require.NotContains(t, err.Error(), "must not quote")
			if c.want != nil {
				require.ErrorIs(t, err, c.want)
				require.True(t, source.Permanent(err))
				return
			}
			require.False(t, source.Permanent(err))
			ra, ok := errors.AsType[interface {
				error
				retryAfter
			}](err)
			require.True(t, ok, "a retryable status error tells how long to wait")
			require.InDelta(t, c.wait.Seconds(), ra.RetryAfter().Seconds(), 2)
		})
	}
}

func TestURLTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	cases := []struct {
		name  string
		serve func(w http.ResponseWriter, r *http.Request, data []byte, stop <-chan struct{})
		ok    bool
	}{
		{"no headers", func(_ http.ResponseWriter, _ *http.Request, _ []byte, stop <-chan struct{}) {
			<-stop
		}, false},
		{"body stalls", func(w http.ResponseWriter, _ *http.Request, data []byte, stop <-chan struct{}) {
			w.Header().Set("Content-Range", "bytes 0-99/100")
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data[:50])
			w.(http.Flusher).Flush()
			<-stop
		}, false},
		{"slow but steady", func(w http.ResponseWriter, _ *http.Request, data []byte, _ <-chan struct{}) {
			w.Header().Set("Content-Range", "bytes 0-99/100")
			w.WriteHeader(http.StatusPartialContent)
			for i := range 25 { // 1.5 s in all, more than its timeout (1 s), never quiet for long
				time.Sleep(60 * time.Millisecond)
				_, _ = w.Write(data[i*4 : i*4+4])
				w.(http.Flusher).Flush()
			}
		}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o := newOrigin(t, 100)
			stop := make(chan struct{})
			t.Cleanup(func() { close(stop) }) // runs before the server closes
			cfg := loopbackConfig()
			cfg.Timeout = timeout
			if c.ok {
				cfg.Timeout = time.Second // room for a loaded machine
			}
			r := newReader(t, cfg)
			info, err := r.Stat(t.Context(), o.URL)
			require.NoError(t, err)
			o.set(misbehave(func(w http.ResponseWriter, r *http.Request, data []byte) { c.serve(w, r, data, stop) }))
			start := time.Now()
			buf := make([]byte, 100)
			err = r.ReadAt(t.Context(), o.URL, info, 0, buf)
			if c.ok {
				require.NoError(t, err)
				require.Equal(t, o.data, buf)
				return
			}
			require.ErrorIs(t, err, source.ErrTimeout)
			require.False(t, source.Permanent(err), "a timeout is retried")
			require.Contains(t, err.Error(), "no answer from the server for 300ms")
			require.Less(t, time.Since(start), 10*timeout)
		})
	}
}

func TestURLRefusesHostsAndSchemes(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, 10)
	r := newReader(t, loopbackConfig())
	ctx := t.Context()
	localhost := strings.Replace(o.URL, "127.0.0.1", "localhost", 1)
	cases := []struct {
		src     string
		want    error
		message string
	}{
		{localhost, source.ErrForbidden, `host "localhost" is not in the worker's allowed URL hosts`},
		{"ftp://127.0.0.1/x", source.ErrInvalid, "only http:// and https://"},
		{"http://user:hunter2@127.0.0.1/x", source.ErrInvalid, "carries credentials"},
		{"http:///x", source.ErrInvalid, "no host"},
		{"http://127.0.0.1:badport/", source.ErrInvalid, "not a valid URL"},
	}
	for _, c := range cases {
		_, err := r.Stat(ctx, c.src)
		require.ErrorIs(t, err, c.want, c.src)
		require.Contains(t, err.Error(), c.message, c.src)
		require.NotContains(t, err.Error(), "hunter2", "a password is never repeated")
		require.True(t, source.Permanent(err))
	}
	require.Empty(t, o.requests(), "no refused source reaches a server")
}

func TestURLRefusesAddresses(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, 10)
	_, port, _ := strings.Cut(strings.TrimPrefix(o.URL, "http://"), ":")
	names := map[string][]string{
		"loopback.test":  {"127.0.0.1"},
		"loopback6.test": {"::1", "::ffff:127.0.0.1"},
		"metadata.test":  {"169.254.169.254"},
		"metadata6.test": {"fd00:ec2::254"},
		"private.test":   {"10.0.0.1"},
		"cgnat.test":     {"100.64.1.1"},
		"zero.test":      {"0.0.0.0"},
		"mixed.test":     {"10.0.0.1", "127.0.0.1"},
	}
	cfg := source.URLConfig{AllowHosts: []string{"*.test", "127.0.0.1"}, Resolver: resolveTo(names),
		Timeout: 5 * time.Second}
	r := newReader(t, cfg)
	cases := []struct{ host, message string }{
		{"loopback.test", "127.0.0.1 (loopback)"},
		{"loopback6.test", "::1 (loopback), 127.0.0.1 (loopback)"},
		{"metadata.test", "169.254.169.254 (cloud metadata)"},
		{"metadata6.test", "fd00:ec2::254 (cloud metadata)"},
		{"private.test", "10.0.0.1 (private)"},
		{"cgnat.test", "100.64.1.1 (shared, CGNAT)"},
		{"zero.test", "0.0.0.0 (unspecified)"},
		{"127.0.0.1", "127.0.0.1 (loopback)"},
	}
	for _, c := range cases {
		start := time.Now()
		_, err := r.Stat(t.Context(), "http://"+c.host+":"+port+"/x")
		require.ErrorIs(t, err, source.ErrForbidden, c.host)
		require.Contains(t, err.Error(), c.message, c.host)
		require.Contains(t, err.Error(), "refusing to connect")
		require.True(t, source.Permanent(err))
		require.Less(t, time.Since(start), time.Second, "refused before any connection attempt")
	}
	require.Empty(t, o.requests(), "no refused address is connected to")

	// An explicit allowance opens exactly what it names.
	cfg.AllowAddrs = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	r = newReader(t, cfg)
	_, err := r.Stat(t.Context(), "http://mixed.test:"+port+"/x")
	require.NoError(t, err, "a refused address is skipped for an allowed one")
	_, err = r.Stat(t.Context(), "http://private.test:"+port+"/x")
	require.ErrorIs(t, err, source.ErrForbidden)

	cfg.AllowAddrs = nil
	cfg.AllowPrivate = true
	r = newReader(t, cfg)
	_, err = r.Stat(t.Context(), "http://loopback.test:"+port+"/x")
	require.NoError(t, err, "AllowPrivate opens loopback")
	_, err = r.Stat(t.Context(), "http://metadata.test:"+port+"/x")
	require.ErrorIs(t, err, source.ErrForbidden, "but never the metadata service")
}

func TestURLRedirects(t *testing.T) {
	t.Parallel()
	target := newOrigin(t, 100)
	front := newOrigin(t, 0)
	names := map[string][]string{"front.test": {"127.0.0.1"}, "target.test": {"127.0.0.1"},
		"elsewhere.test": {"127.0.0.1"}, "internal.test": {"10.0.0.1"}}
	port := func(o *origin) string { return o.URL[strings.LastIndex(o.URL, ":")+1:] }
	redirect := func(to string) {
		front.set(func(o *origin) {
			o.serve = func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path == "/loop" {
					http.Redirect(w, r, "/loop", http.StatusFound)
					return true
				}
				http.Redirect(w, r, to, http.StatusFound)
				return true
			}
		})
	}
	cfg := source.URLConfig{AllowHosts: []string{"front.test", "target.test", "internal.test"}, Resolver: resolveTo(names),
		AllowAddrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Timeout: 5 * time.Second}
	r := newReader(t, cfg)
	ctx := t.Context()
	src := "http://front.test:" + port(front) + "/obj"

	redirect("http://target.test:" + port(target) + "/obj")
	info, err := r.Stat(ctx, src)
	require.NoError(t, err)
	require.EqualValues(t, 100, info.Size)
	buf := make([]byte, 10)
	require.NoError(t, r.ReadAt(ctx, src, info, 90, buf))
	require.Equal(t, target.data[90:], buf)
	require.Equal(t, `"v1"`, target.requests()[1].Header.Get("If-Match"), "conditions follow the redirect")

	before := len(target.requests())
	cases := []struct {
		to, message string
		want        error
	}{
		{"http://elsewhere.test:" + port(target) + "/obj", `redirect from http://front.test:` + port(front) +
			`/obj refused: to http://elsewhere.test:` + port(target) + `/obj: host "elsewhere.test" is not in the worker's allowed URL hosts`,
			source.ErrForbidden},
		{"http://internal.test:" + port(target) + "/obj", "10.0.0.1 (private)", source.ErrForbidden},
		{"ftp://target.test/obj", "only http:// and https://", source.ErrInvalid},
		{"/loop", "stopped after 5 redirects", source.ErrForbidden},
	}
	for _, c := range cases {
		redirect(c.to)
		_, err := r.Stat(ctx, src)
		require.ErrorIs(t, err, c.want, c.to)
		require.Contains(t, err.Error(), c.message, c.to)
		require.True(t, source.Permanent(err), c.to)
	}
	require.Len(t, target.requests(), before, "no refused redirect reaches its target")

	cfg.MaxRedirects = -1
	r = newReader(t, cfg)
	redirect("http://target.test:" + port(target) + "/obj")
	_, err = r.Stat(ctx, src)
	require.ErrorContains(t, err, "stopped after 0 redirects")
}

func TestURLRedirectMayNotLeaveHTTPS(t *testing.T) {
	t.Parallel()
	plain := newOrigin(t, 10)
	tlsSrv := httptest.NewTLSServer(http.RedirectHandler(plain.URL+"/x", http.StatusFound))
	t.Cleanup(tlsSrv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(tlsSrv.Certificate())
	cfg := loopbackConfig()
	cfg.TLSConfig = &tls.Config{RootCAs: roots}
	r := newReader(t, cfg)
	_, err := r.Stat(t.Context(), tlsSrv.URL+"/x")
	require.ErrorIs(t, err, source.ErrForbidden)
	require.Contains(t, err.Error(), "leaves https for http")
	require.Empty(t, plain.requests())
}

func TestURLHeadersStayWithTheirHost(t *testing.T) {
	t.Parallel()
	const secret = "Bearer s3cr3t-9f8e7d"
	home := newOrigin(t, 100)
	other := newOrigin(t, 100)
	port := func(o *origin) string { return o.URL[strings.LastIndex(o.URL, ":")+1:] }
	names := map[string][]string{"origin.test": {"127.0.0.1"}, "other.test": {"127.0.0.1"}}
	cfg := source.URLConfig{
		AllowHosts: []string{"origin.test", "other.test"},
		AllowAddrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Resolver:   resolveTo(names),
		Headers: map[string]http.Header{
			"http://Origin.Test":                {"Authorization": {secret}, "X-Tenant": {"a"}},
			"http://origin.test:" + port(other): {"X-Tenant": {"port-specific"}},
			"http://other.test:" + port(home):   {"X-Never": {"wrong port"}},
		},
		Timeout: 5 * time.Second,
	}
	r := newReader(t, cfg)
	ctx := t.Context()

	// Straight to the host: the headers arrive.
	src := "http://origin.test:" + port(home) + "/obj"
	info, err := r.Stat(ctx, src)
	require.NoError(t, err)
	require.NoError(t, r.ReadAt(ctx, src, info, 0, make([]byte, 10)))
	for _, req := range home.requests() {
		require.Equal(t, secret, req.Header.Get("Authorization"))
		require.Equal(t, "a", req.Header.Get("X-Tenant"))
	}

	// A redirect to another host: they do not follow.
	home.set(func(o *origin) {
		o.serve = func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != "/away" {
				return false
			}
			http.Redirect(w, r, "http://other.test:"+port(other)+"/obj", http.StatusTemporaryRedirect)
			return true
		}
	})
	away := "http://origin.test:" + port(home) + "/away"
	info, err = r.Stat(ctx, away)
	require.NoError(t, err)
	require.NoError(t, r.ReadAt(ctx, away, info, 0, make([]byte, 10)))
	reqs := other.requests()
	require.Len(t, reqs, 2)
	for _, req := range reqs {
		require.Empty(t, req.Header.Get("Authorization"), "the secret must not follow a redirect to another host")
		require.Empty(t, req.Header.Get("X-Tenant"))
		require.Empty(t, req.Header.Get("X-Never"))
	}
	for _, req := range home.requests() {
		require.Equal(t, secret, req.Header.Get("Authorization"), "every request to the host itself carries it")
	}

	// host:port wins over host for that port.
	src = "http://origin.test:" + port(other) + "/obj"
	_, err = r.Stat(ctx, src)
	require.NoError(t, err)
	last := other.requests()[len(other.requests())-1]
	require.Equal(t, "port-specific", last.Header.Get("X-Tenant"))
	require.Empty(t, last.Header.Get("Authorization"), "a host:port entry replaces the host entry")

	// Failures never quote the secret.
	home.set(func(o *origin) {
		o.serve = func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("WWW-Authenticate", r.Header.Get("Authorization"))
			http.Error(w, "denied: "+r.Header.Get("Authorization"), http.StatusForbidden)
			return true
		}
	})
	_, err = r.Stat(ctx, "http://origin.test:"+port(home)+"/obj")
	require.ErrorIs(t, err, source.ErrRejected)
	require.NotContains(t, err.Error(), "s3cr3t")
}

func TestURLConfigValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		cfg     source.URLConfig
		message string
	}{
		{source.URLConfig{}, "AllowHosts is empty"},
		{source.URLConfig{AllowHosts: []string{" ", ""}}, "AllowHosts is empty"},
		{source.URLConfig{AllowHosts: []string{"http://x.com"}}, `host pattern "http://x.com"`},
		{source.URLConfig{AllowHosts: []string{"x.com:443"}}, `host pattern "x.com:443"`},
		{source.URLConfig{AllowHosts: []string{"a.*.com"}}, `host pattern "a.*.com"`},
		{source.URLConfig{AllowHosts: []string{"*."}}, `host pattern "*."`},
		{source.URLConfig{AllowHosts: []string{"x.com"}, Timeout: -1}, "Timeout must not be negative"},
		{source.URLConfig{AllowHosts: []string{"x.com"}, AllowAddrs: []netip.Prefix{{}}}, "AllowAddrs: invalid prefix"},
		{source.URLConfig{AllowHosts: []string{"x.com"}, Headers: map[string]http.Header{"y.com": {"A": {"1"}}}},
			`host "y.com" is not allowed by AllowHosts`},
		{source.URLConfig{AllowHosts: []string{"x.com"}, Headers: map[string]http.Header{"x.com": {"Range": {"1"}}}},
			"header Range is set by partflow"},
		{source.URLConfig{AllowHosts: []string{"x.com"}, Headers: map[string]http.Header{"x.com": {"Bad Name": {"1"}}}},
			`"Bad Name" is not a valid header name`},
		{source.URLConfig{AllowHosts: []string{"x.com"}, Headers: map[string]http.Header{"x.com": {"A": {"sec\r\nret"}}}},
			"contains a line break"},
		{source.URLConfig{AllowHosts: []string{"x.com"}, Headers: map[string]http.Header{"*.x.com": {"A": {"1"}}}},
			"want an exact host"},
		{source.URLConfig{AllowHosts: []string{"x.com"}, Headers: map[string]http.Header{"x.com": {}, "X.COM": {}}},
			"given twice"},
	}
	for _, c := range cases {
		_, err := source.NewURLReader(c.cfg)
		require.ErrorContains(t, err, c.message, "%+v", c.cfg)
		require.NotContains(t, err.Error(), "sec\r\nret")
	}
	for _, hosts := range [][]string{{"*"}, {"*.example.com", "Files.Example.COM."}, {"::1", "[::1]", "10.1.2.3"}} {
		r, err := source.NewURLReader(source.URLConfig{AllowHosts: hosts})
		require.NoError(t, err, hosts)
		require.NoError(t, r.Close())
	}
}

func TestURLHostPatterns(t *testing.T) {
	t.Parallel()
	r := newReader(t, source.URLConfig{AllowHosts: []string{"*.example.com", "files.example.org", "[::1]"},
		MaxRedirects: -1, Resolver: resolveTo(nil)})
	for host, allowed := range map[string]bool{
		"a.example.com": true, "a.b.EXAMPLE.com.": true, "example.com": false, "badexample.com": false,
		"files.example.org": true, "FILES.example.org:8443": true, "x.files.example.org": false, "[::1]": true,
		"[::2]": false,
	} {
		_, err := r.Stat(t.Context(), "http://"+host+"/x")
		require.Error(t, err) // nothing resolves, and ::1 is refused as an address
		if allowed {
			require.NotContains(t, err.Error(), "not in the worker's allowed URL hosts", host)
		} else {
			require.ErrorIs(t, err, source.ErrForbidden, host)
			require.Contains(t, err.Error(), "not in the worker's allowed URL hosts", host)
		}
	}
}

func TestParseContentRange(t *testing.T) {
	t.Parallel()
	good := []struct {
		in                 string
		first, last, total int64
	}{
		{"bytes 0-0/1", 0, 0, 1},
		{"bytes 10-19/100", 10, 19, 100},
		{"Bytes 0-99/*", 0, 99, -1},
		{"bytes */0", -1, -1, 0},
		{"bytes */42", -1, -1, 42},
	}
	for _, c := range good {
		first, last, total, err := source.ParseContentRange(c.in)
		require.NoError(t, err, c.in)
		require.Equal(t, []int64{c.first, c.last, c.total}, []int64{first, last, total}, c.in)
	}
	for _, in := range []string{"", "bytes", "bytes 0-9", "items 0-9/10", "bytes 5-4/10", "bytes 0-10/10",
		"bytes -1-9/10", "bytes +0-9/10", "bytes 0-9/-1", "bytes */*", "bytes  0-9/10", "bytes 0 -9/10",
		"bytes 0-9/10 ", "bytes 0-99999999999999999999/*", "bytes 0x1-2/3"} {
		_, _, _, err := source.ParseContentRange(in)
		require.Error(t, err, "%q", in)
	}
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-0/1", "bytes */0", "bytes 1-2/*", "bytes 9-3/10", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, last, total, err := source.ParseContentRange(s)
		if err != nil {
			return
		}
		switch {
		case first == -1:
			if last != -1 || total < 0 {
				t.Fatalf("%q: unsatisfied form gave %d-%d/%d", s, first, last, total)
			}
		case first < 0 || last < first || (total >= 0 && last >= total) || total < -1:
			t.Fatalf("%q: accepted an impossible range %d-%d/%d", s, first, last, total)
		}
		// What parses formats back to something that parses the same.
		back := "bytes "
		if first < 0 {
			back += "*"
		} else {
			back += strconv.FormatInt(first, 10) + "-" + strconv.FormatInt(last, 10)
		}
		if total < 0 {
			back += "/*"
		} else {
			back += "/" + strconv.FormatInt(total, 10)
		}
		f2, l2, t2, err := source.ParseContentRange(back)
		if err != nil || f2 != first || l2 != last || t2 != total {
			t.Fatalf("%q -> %q does not round-trip", s, back)
		}
	})
}
