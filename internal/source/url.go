package source

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ErrTimeout is wrapped by errors of a source server that went quiet for longer than
// URLConfig.Timeout. It is retryable, unlike the other sentinels.
var ErrTimeout = errors.New("source server timed out")

// URLConfig configures a URLReader. Only AllowHosts is required.
type URLConfig struct {
	// AllowHosts lists the hosts URL sources may name (and redirects may lead to): an exact
	// host name or IP address ("files.example.com", "203.0.113.7"), "*.example.com" for any
	// name below example.com (not example.com itself), or "*" for any host. Ports are not
	// part of a pattern. Required.
	AllowHosts []string
	// AllowPrivate lets connections reach loopback, private (RFC 1918), link-local, shared
	// (CGNAT, 100.64.0.0/10) and unique-local (fc00::/7) addresses, which are refused by
	// default. Cloud metadata, unspecified, multicast and reserved addresses stay refused
	// unless AllowAddrs lists them.
	AllowPrivate bool
	// AllowAddrs are address ranges connections may reach whatever their class, e.g.
	// 127.0.0.1/32 for a test origin or 10.1.2.0/24 for one internal file server.
	AllowAddrs []netip.Prefix
	// Headers are request headers per host, e.g. an Authorization token. A key is an exact
	// host name (any port) or "host:port" (that port only; it wins over a host entry). They
	// are sent only to requests for exactly that host, never to a redirect target elsewhere,
	// and never appear in errors. See LoadURLHeaders.
	Headers map[string]http.Header
	// Timeout bounds every wait on a server: connecting, the TLS handshake and the response
	// headers together (across redirects), then each gap between body bytes. A transfer that
	// keeps moving is never cut. Default 30s.
	Timeout time.Duration
	// MaxRedirects is how many redirects one request may follow; default 5, negative for none.
	MaxRedirects int
	// Resolver returns the addresses of a host name; default net.DefaultResolver. The dialer
	// checks every address it returns before connecting to it.
	Resolver func(ctx context.Context, host string) ([]netip.Addr, error)
	// TLSConfig for https sources; nil means the system's roots.
	TLSConfig *tls.Config
	// UserAgent sent with every request; default "partflow".
	UserAgent string
}

func (c *URLConfig) validate() (hostPatterns, hostHeaders, error) {
	hosts, err := parseHostPatterns(c.AllowHosts)
	if err != nil {
		return nil, nil, fmt.Errorf("source: URLConfig.AllowHosts: %w", err)
	}
	if len(hosts) == 0 {
		return nil, nil, errors.New("source: URLConfig.AllowHosts is empty: no URL source could be read")
	}
	headers, err := parseHostHeaders(c.Headers, hosts)
	if err != nil {
		return nil, nil, err
	}
	if c.Timeout < 0 {
		return nil, nil, fmt.Errorf("source: URLConfig.Timeout must not be negative, got %v", c.Timeout)
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	switch {
	case c.MaxRedirects == 0:
		c.MaxRedirects = 5
	case c.MaxRedirects < 0:
		c.MaxRedirects = 0
	}
	prefixes := make([]netip.Prefix, 0, len(c.AllowAddrs))
	for _, p := range c.AllowAddrs {
		if !p.IsValid() {
			return nil, nil, fmt.Errorf("source: URLConfig.AllowAddrs: invalid prefix %v", p)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 { // addresses are checked unmapped
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		prefixes = append(prefixes, p.Masked())
	}
	c.AllowAddrs = prefixes
	if c.Resolver == nil {
		c.Resolver = defaultResolve
	}
	if c.UserAgent == "" {
		c.UserAgent = "partflow"
	}
	return hosts, headers, nil
}

// URLReader reads http and https sources with range requests.
//
// # Configuration
//
// A URLConfig names the hosts sources may name, what addresses connections may reach, per-host
// request headers and the timeout. Nothing is allowed by default: AllowHosts is required, and
// loopback, private, link-local, CGNAT, unique-local, multicast and cloud metadata addresses
// are refused unless allowed.
//
// # Implementation
//
// Stat sends HEAD and takes the size from Content-Length; when HEAD is refused (400, 401, 403
// as S3 presigned GET URLs answer, 405, 501) or has no length, it sends GET with
// "Range: bytes=0-0" and takes the size from Content-Range. The fingerprint is the size plus
// the strong ETag, or else Last-Modified. ReadAt sends GET with the part's Range and the
// fingerprint as If-Match (or If-Unmodified-Since); it requires 206 with exactly that
// Content-Range and reads at most one byte more than asked, so a response's size is never
// trusted. A 200 that ignores Range is accepted only when the read is the whole source.
//
// Host names are resolved by the reader's dialer, which checks each address and connects to
// that address, so neither a DNS answer (rebinding included) nor a redirect can reach a
// refused address. Redirects are re-checked against AllowHosts, may not go from https to
// http, and are capped. Per-host headers are added in the transport for each request's own
// host, so they never follow a redirect elsewhere.
//
// Errors: 404/410 wrap ErrNotFound; 412, a new ETag or Last-Modified, or a new size wrap
// ErrChanged; 416 wraps ErrShort; other 4xx wrap ErrRejected; a broken range answer wraps
// ErrProtocol; refused hosts, addresses and redirects wrap ErrForbidden. All of those are
// permanent. 408, 425, 429, 5xx, connection errors, short bodies and timeouts (ErrTimeout)
// are retryable; with a Retry-After header the error has a RetryAfter() time.Duration method.
//
// # Considerations
//
//   - A source with neither a strong ETag nor Last-Modified is fingerprinted by its size
//     alone: a change that keeps the size goes unnoticed.
//   - Compressed responses are refused (Accept-Encoding: identity is sent): byte ranges of a
//     compressed representation are not ranges of the source.
//   - HTTP proxies from the environment (HTTP_PROXY, ...) are not used: the address checks
//     must see the real peer.
//   - Error messages show URLs without their query, which may be a presigned credential.
type URLReader struct {
	hosts        hostPatterns
	timeout      time.Duration
	maxRedirects int
	userAgent    string
	transport    *http.Transport
	client       *http.Client
}

var _ Reader = (*URLReader)(nil)

// NewURLReader returns a reader for cfg. Close it to release idle connections.
func NewURLReader(cfg URLConfig) (*URLReader, error) {
	hosts, headers, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	d := newDialer(addrPolicy{allowPrivate: cfg.AllowPrivate, allowAddrs: cfg.AllowAddrs}, cfg.Resolver)
	tr := &http.Transport{
		Proxy:                  nil, // see Considerations
		DialContext:            d.DialContext,
		TLSClientConfig:        cfg.TLSConfig.Clone(),
		ForceAttemptHTTP2:      true,
		DisableCompression:     true,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    16,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 1 << 20,
	}
	r := &URLReader{hosts: hosts, timeout: cfg.Timeout, maxRedirects: cfg.MaxRedirects, userAgent: cfg.UserAgent,
		transport: tr}
	r.client = &http.Client{Transport: &headerTransport{base: tr, headers: headers}, CheckRedirect: r.checkRedirect}
	return r, nil
}

// Close closes idle connections.
func (r *URLReader) Close() error {
	r.transport.CloseIdleConnections()
	return nil
}

// Stat returns the source's size and fingerprint.
func (r *URLReader) Stat(ctx context.Context, src string) (Info, error) {
	u, err := r.check(src)
	if err != nil {
		return Info{}, err
	}
	ex, err := r.send(ctx, http.MethodHead, u, nil)
	if err != nil {
		return Info{}, err
	}
	code, length := ex.resp.StatusCode, ex.resp.ContentLength
	if code == http.StatusOK && length >= 0 {
		defer ex.close()
		return fingerprintOf(ex.resp, length).info(), nil
	}
	if code != http.StatusOK && !headRefused(code) {
		defer ex.close()
		return Info{}, ex.statusError()
	}
	ex.close()
	return r.probe(ctx, u)
}

// headRefused reports statuses after which Stat tries GET instead of HEAD.
func headRefused(code int) bool {
	switch code {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusMethodNotAllowed,
		http.StatusNotImplemented:
		return true
	}
	return false
}

// probe learns the size with GET "Range: bytes=0-0".
func (r *URLReader) probe(ctx context.Context, u *url.URL) (Info, error) {
	ex, err := r.send(ctx, http.MethodGet, u, http.Header{"Range": {"bytes=0-0"}})
	if err != nil {
		return Info{}, err
	}
	defer ex.close()
	resp := ex.resp
	cr := resp.Header.Get("Content-Range")
	switch resp.StatusCode {
	case http.StatusPartialContent:
		first, last, total, err := ParseContentRange(cr)
		if err != nil || first != 0 || last != 0 || total < 0 {
			return Info{}, ex.errorf(ErrProtocol, "answered bytes=0-0 with Content-Range %q", printable(cr))
		}
		return fingerprintOf(resp, total).info(), nil
	case http.StatusOK:
		if resp.ContentLength < 0 {
			return Info{}, ex.errorf(ErrProtocol, "does not say how large the source is (no Content-Length, no range support)")
		}
		return fingerprintOf(resp, resp.ContentLength).info(), nil
	case http.StatusRequestedRangeNotSatisfiable:
		if first, _, total, err := ParseContentRange(cr); err == nil && first < 0 && total == 0 {
			return fingerprintOf(resp, 0).info(), nil // an empty source
		}
	}
	return Info{}, ex.statusError()
}

// ReadAt fills buf with the source's bytes at off, failing with ErrChanged if the source no
// longer matches want.
func (r *URLReader) ReadAt(ctx context.Context, src string, want Info, off int64, buf []byte) error {
	u, err := r.check(src)
	if err != nil {
		return err
	}
	fp, err := parseURLFingerprint(want)
	if err != nil {
		return fmt.Errorf("source: %s: %w", Redact(u), err)
	}
	n := int64(len(buf))
	if off < 0 || off+n > want.Size {
		return fmt.Errorf("source: %s: bytes [%d, %d) lie outside its %d bytes: %w", Redact(u), off, off+n, want.Size, ErrInvalid)
	}
	if n == 0 {
		return nil
	}
	last := off + n - 1
	hdr := http.Header{"Range": {fmt.Sprintf("bytes=%d-%d", off, last)}}
	switch {
	case fp.etag != "":
		hdr.Set("If-Match", fp.etag)
	case !fp.lastModified.IsZero():
		hdr.Set("If-Unmodified-Since", fp.lastModified.Format(http.TimeFormat))
	}
	ex, err := r.send(ctx, http.MethodGet, u, hdr)
	if err != nil {
		return err
	}
	defer ex.close()
	resp := ex.resp
	switch resp.StatusCode {
	case http.StatusPartialContent:
		cr := resp.Header.Get("Content-Range")
		first, l, total, err := ParseContentRange(cr)
		switch {
		case err != nil || first < 0:
			return ex.errorf(ErrProtocol, "answered 206 with an unusable Content-Range %q for bytes=%d-%d", printable(cr), off, last)
		case total >= 0 && total != want.Size:
			return ex.errorf(ErrChanged, "the source is now %d bytes, was %d when the upload was planned", total, want.Size)
		case first != off || l != last:
			return ex.errorf(ErrProtocol, "answered Content-Range %q for bytes=%d-%d", printable(cr), off, last)
		}
	case http.StatusOK:
		if off != 0 || n != want.Size {
			return ex.errorf(ErrProtocol, "ignored the Range header (200 OK with the whole source instead of "+
				"206 for bytes=%d-%d); only a source that fits in one part can be read from such a server", off, last)
		}
	default:
		return ex.statusError()
	}
	if err := fp.check(resp); err != nil {
		return ex.errorf(ErrChanged, "%s since the upload was planned", err)
	}
	if resp.ContentLength >= 0 && resp.ContentLength != n {
		return ex.errorf(ErrProtocol, "announced %d bytes (Content-Length) for a range of %d", resp.ContentLength, n)
	}
	return ex.readExactly(buf)
}

// check parses src and checks it against the allowed hosts.
func (r *URLReader) check(src string) (*url.URL, error) {
	u, err := CheckURL(src)
	if err != nil {
		return nil, err
	}
	if err := r.allowedHost(u); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	return u, nil
}

func (r *URLReader) allowedHost(u *url.URL) error {
	if !r.hosts.allows(u.Hostname()) {
		return fmt.Errorf("%s: host %q is not in the worker's allowed URL hosts (--allow-url-host): %w",
			Redact(u), u.Hostname(), ErrForbidden)
	}
	return nil
}

// checkRedirect re-checks every redirect target as if it were the source itself.
func (r *URLReader) checkRedirect(req *http.Request, via []*http.Request) error {
	prev := via[len(via)-1].URL
	if len(via) > r.maxRedirects {
		return fmt.Errorf("stopped after %d redirects (the limit): %w", r.maxRedirects, ErrForbidden)
	}
	err := checkURL(req.URL)
	if err == nil {
		err = r.allowedHost(req.URL)
	}
	if err == nil && prev.Scheme == "https" && req.URL.Scheme == "http" {
		err = fmt.Errorf("%s: it leaves https for http: %w", Redact(req.URL), ErrForbidden)
	}
	if err != nil {
		return fmt.Errorf("redirect from %s refused: to %w", Redact(prev), err)
	}
	return nil
}

// errStalled is the cancellation cause of a request whose server went quiet.
var errStalled = errors.New("stalled")

// exchange is one request and its response, watched by a timer that cancels it when the
// server stays quiet for longer than the timeout.
type exchange struct {
	method, url string // the URL redacted
	timeout     time.Duration
	ctx         context.Context
	cancel      context.CancelCauseFunc
	timer       *time.Timer
	resp        *http.Response
}

func (r *URLReader) send(ctx context.Context, method string, u *url.URL, hdr http.Header) (*exchange, error) {
	ex := &exchange{method: method, url: Redact(u), timeout: r.timeout}
	ex.ctx, ex.cancel = context.WithCancelCause(ctx)
	ex.timer = time.AfterFunc(r.timeout, func() { ex.cancel(errStalled) })
	req, err := http.NewRequestWithContext(ex.ctx, method, u.String(), nil)
	if err != nil { // u was parsed already: cannot happen
		ex.close()
		return nil, ex.errorf(ErrInvalid, "cannot build the request")
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", r.userAgent)
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := r.client.Do(req)
	if err != nil {
		defer ex.close()
		return nil, ex.transportError(err, "")
	}
	ex.resp = resp
	ex.timer.Reset(r.timeout) // the body gets a full timeout of its own
	resp.Body = &stallBody{ReadCloser: resp.Body, timer: ex.timer, timeout: r.timeout}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") &&
		resp.StatusCode < 300 {
		defer ex.close()
		return nil, ex.errorf(ErrProtocol, "sent a %q-encoded response although identity was asked for", printable(ce))
	}
	return ex, nil
}

func (ex *exchange) close() {
	ex.timer.Stop()
	if ex.resp != nil {
		_ = ex.resp.Body.Close()
	}
	ex.cancel(nil)
}

// errorf returns "source: METHOD URL: message: kind".
func (ex *exchange) errorf(kind error, format string, args ...any) error {
	return fmt.Errorf("source: %s %s: %s: %w", ex.method, ex.url, fmt.Sprintf(format, args...), kind)
}

// transportError describes a failed request or body read; what names the stage.
func (ex *exchange) transportError(err error, what string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its message repeats the full URL
	}
	if what != "" {
		what += ": "
	}
	if errors.Is(context.Cause(ex.ctx), errStalled) {
		return ex.errorf(ErrTimeout, "%sno answer from the server for %v", what, ex.timeout)
	}
	// A refused address or redirect (ErrForbidden, permanent), a failed connection
	// (retryable) or the task's own context ending.
	return fmt.Errorf("source: %s %s: %s%w", ex.method, ex.url, what, err)
}

// statusError describes an unexpected status.
func (ex *exchange) statusError() error {
	code := ex.resp.StatusCode
	status := fmt.Sprintf("%d %s", code, http.StatusText(code)) // not the server's reason phrase
	switch {
	case code == http.StatusNotFound || code == http.StatusGone:
		return ex.errorf(ErrNotFound, "%s", status)
	case code == http.StatusPreconditionFailed:
		return ex.errorf(ErrChanged, "%s: the source changed since the upload was planned", status)
	case code == http.StatusRequestedRangeNotSatisfiable:
		return ex.errorf(ErrShort, "%s: the source is shorter than planned", status)
	case code == http.StatusRequestTimeout || code == http.StatusTooEarly || code == http.StatusTooManyRequests ||
		code >= 500:
		after := parseRetryAfter(ex.resp.Header.Get("Retry-After"), time.Now())
		err := fmt.Errorf("source: %s %s: %s", ex.method, ex.url, status)
		if after > 0 {
			err = fmt.Errorf("%w (retry after %v)", err, after)
		}
		return &retryAfterError{error: err, after: after}
	case code >= 400:
		return ex.errorf(ErrRejected, "%s", status)
	}
	return ex.errorf(ErrProtocol, "unexpected status %s", status)
}

// readExactly fills buf from the body and checks that nothing follows.
func (ex *exchange) readExactly(buf []byte) error {
	got, err := io.ReadFull(ex.resp.Body, buf)
	if err != nil {
		stage := fmt.Sprintf("after %d of %d bytes", got, len(buf))
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return ex.errorf(errShortBody, "the response ended %s", stage)
		}
		return ex.transportError(err, "reading the body "+stage)
	}
	var more [1]byte
	switch m, err := io.ReadFull(ex.resp.Body, more[:]); {
	case m > 0:
		return ex.errorf(ErrProtocol, "sent more than the %d bytes asked for", len(buf))
	case !errors.Is(err, io.EOF):
		return ex.transportError(err, "reading the end of the body")
	}
	return nil
}

// errShortBody is wrapped by the (retryable) error of a body that ended early: usually a
// dropped connection.
var errShortBody = errors.New("short body")

// stallBody resets the stall timer whenever bytes arrive.
type stallBody struct {
	io.ReadCloser
	timer   *time.Timer
	timeout time.Duration
}

func (b *stallBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.timer.Reset(b.timeout)
	}
	return n, err
}

// retryAfterError is a retryable error carrying the wait the server asked for (0 if none).
type retryAfterError struct {
	error
	after time.Duration
}

func (e *retryAfterError) Unwrap() error { return e.error }

// RetryAfter is how long the server asked clients to wait before retrying.
func (e *retryAfterError) RetryAfter() time.Duration { return e.after }

// parseRetryAfter reads a Retry-After value (seconds or an HTTP date), clamped to [0, 24h].
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil {
		d = time.Duration(min(secs, 86400)) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), 24*time.Hour)
}

// ParseContentRange parses a Content-Range value: "bytes first-last/total" or
// "bytes first-last/*" (total -1), or "bytes */total" (first and last -1).
func ParseContentRange(s string) (first, last, total int64, err error) {
	bad := func() (int64, int64, int64, error) {
		return 0, 0, 0, fmt.Errorf("source: bad Content-Range %q", printable(s))
	}
	unit, rest, ok := strings.Cut(s, " ")
	if !ok || !strings.EqualFold(unit, "bytes") {
		return bad()
	}
	rng, size, ok := strings.Cut(rest, "/")
	if !ok {
		return bad()
	}
	total = -1
	if size != "*" {
		if total, ok = parseDigits(size); !ok {
			return bad()
		}
	}
	if rng == "*" {
		if total < 0 {
			return bad()
		}
		return -1, -1, total, nil
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return bad()
	}
	if first, ok = parseDigits(a); !ok {
		return bad()
	}
	if last, ok = parseDigits(b); !ok || last < first || (total >= 0 && last >= total) {
		return bad()
	}
	return first, last, total, nil
}

// parseDigits parses a non-negative decimal made of ASCII digits only.
func parseDigits(s string) (int64, bool) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// urlFingerprint is what Stat fixed about a URL source.
type urlFingerprint struct {
	size         int64
	etag         string    // strong, quotes included; "" if none
	lastModified time.Time // zero if unknown, or if etag is set
}

const urlFingerprintPrefix = "url:"

func fingerprintOf(resp *http.Response, size int64) urlFingerprint {
	f := urlFingerprint{size: size}
	if et := resp.Header.Get("ETag"); strongETag(et) {
		f.etag = et
	} else if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		f.lastModified = t.UTC()
	}
	return f
}

func (f urlFingerprint) info() Info {
	s := urlFingerprintPrefix + strconv.FormatInt(f.size, 10)
	switch {
	case f.etag != "":
		s += ":etag:" + f.etag
	case !f.lastModified.IsZero():
		s += ":lm:" + f.lastModified.Format(http.TimeFormat)
	}
	return Info{Size: f.size, Fingerprint: s}
}

func parseURLFingerprint(in Info) (urlFingerprint, error) {
	bad := func() (urlFingerprint, error) {
		return urlFingerprint{}, fmt.Errorf("fingerprint %q was not made by a URL source: %w", printable(in.Fingerprint), ErrInvalid)
	}
	rest, ok := strings.CutPrefix(in.Fingerprint, urlFingerprintPrefix)
	if !ok {
		return bad()
	}
	size, rest, _ := strings.Cut(rest, ":")
	f := urlFingerprint{}
	if f.size, ok = parseDigits(size); !ok || f.size != in.Size {
		return bad()
	}
	switch kind, value, _ := strings.Cut(rest, ":"); kind {
	case "":
	case "etag":
		if !strongETag(value) {
			return bad()
		}
		f.etag = value
	case "lm":
		t, err := http.ParseTime(value)
		if err != nil {
			return bad()
		}
		f.lastModified = t.UTC()
	default:
		return bad()
	}
	return f, nil
}

// check compares a response's validators with the fingerprint's. A validator the response
// lacks is not a change (If-Match or If-Unmodified-Since guarded the request).
func (f urlFingerprint) check(resp *http.Response) error {
	if et := resp.Header.Get("ETag"); f.etag != "" && et != "" && et != f.etag {
		return fmt.Errorf("its ETag is now %s, was %s", printable(et), f.etag)
	}
	if !f.lastModified.IsZero() {
		if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil && !t.Equal(f.lastModified) {
			return fmt.Errorf("its Last-Modified is now %s, was %s", t.UTC().Format(http.TimeFormat),
				f.lastModified.Format(http.TimeFormat))
		}
	}
	return nil
}

// strongETag reports whether s is a strong entity tag: a quoted string, not W/"…".
func strongETag(s string) bool {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return false
	}
	for _, c := range []byte(s[1 : len(s)-1]) {
		if c == '"' || c < 0x21 || c == 0x7f {
			return false
		}
	}
	return true
}

// printable makes a header value from a server fit for a message: at most 100 bytes, with
// control and non-ASCII bytes replaced by '?'.
func printable(s string) string {
	more := ""
	if len(s) > 100 {
		s, more = s[:100], "…"
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c >= 0x7f {
			b[i] = '?'
		}
	}
	return string(b) + more
}
