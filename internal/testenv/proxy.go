package testenv

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Op is the kind of S3 request the proxy saw.
type Op string

// The S3 operations the proxy tells apart.
const (
	OpCreateMultipartUpload   Op = "CreateMultipartUpload"
	OpUploadPart              Op = "UploadPart"
	OpCompleteMultipartUpload Op = "CompleteMultipartUpload"
	OpAbortMultipartUpload    Op = "AbortMultipartUpload"
	OpListParts               Op = "ListParts"
	OpListMultipartUploads    Op = "ListMultipartUploads"
	OpPutObject               Op = "PutObject"
	OpHeadObject              Op = "HeadObject"
	OpGetObject               Op = "GetObject"
	OpOther                   Op = "Other"
)

// Exchange is one request the proxy handled and the status it answered
// (0 when the connection was dropped).
type Exchange struct {
	Op           Op
	Method, Path string
	Key          string
	UploadID     string
	PartNumber   int
	Status       int
	Header       http.Header // the request's headers as the client sent them
	// Injected is true when the proxy made the answer up (a Fault) instead of forwarding the
	// request: an injected 200 is no success.
	Injected bool
}

// Request is what a fault function sees.
type Request struct {
	Op         Op
	Key        string
	UploadID   string
	PartNumber int
	// Seq counts requests of this Op so far, including this one (1-based).
	Seq int
}

// Fault says what the proxy does to one request. A zero Fault passes through.
// Delay applies first; then Drop, TruncateBody, ErrorIn200, Status/Code, or CorruptBody.
type Fault struct {
	// Status and Code: answer with a synthesized S3 XML error instead of
	// forwarding. A missing Status is 500; a missing Code follows Status.
	Status int
	Code   string
	// Delay sleeps before handling the request (cut short if the client goes).
	Delay time.Duration
	// Drop closes the connection without any response.
	Drop bool
	// CorruptBody flips one byte in the middle of the request body and
	// forwards it with the same Content-Length.
	CorruptBody bool
	// DelayResponse forwards the request at once (and lets the server finish
	// it even if the client goes away) but holds the answer back this long:
	// a call that times out although the server did the work.
	DelayResponse time.Duration
	// ErrorIn200 answers 200 OK with an S3 <Error> body (InternalError) without
	// forwarding, as S3 may answer a CompleteMultipartUpload that failed.
	ErrorIn200 bool
	// TruncateBody reads half of the request body, then closes the connection:
	// an upload cut off mid-body.
	TruncateBody bool
}

// Proxy is a reverse proxy in front of an S3 server that records every
// exchange and injects faults. It is safe for concurrent use.
type Proxy struct {
	srv *httptest.Server
	rp  *httputil.ReverseProxy

	mu              sync.Mutex
	fault           func(Request) Fault
	seq             map[Op]int
	exchanges       []Exchange
	emulateMinIO    bool
	completedUpload map[string]bool
	encrypted       *encryption // nil: not emulating an encrypted bucket
	refuseChecksums bool
	hideFor         time.Duration
	hiddenUntil     map[string]time.Time // key -> when HEAD/GET may see it
	bodyBytes       atomic.Int64         // request body bytes read from clients so far
}

// BodyBytes returns how many request body bytes the proxy has read from its clients so far
// (as they arrive, not when a request ends): sample it twice to measure a send rate.
func (p *Proxy) BodyBytes() int64 { return p.bodyBytes.Load() }

// countingBody counts the bytes read from a request body into the proxy's total.
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingBody) Read(b []byte) (int, error) {
	n, err := c.ReadCloser.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// NewProxy starts a proxy to target (e.g. an S3 Endpoint), closed on cleanup.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		t.Fatalf("testenv: proxy target %q: %v", target, err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	p := &Proxy{seq: map[Op]int{}, completedUpload: map[string]bool{}, hiddenUntil: map[string]time.Time{}}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			// SigV4 signs Host: the server must see the host the client signed.
			r.Out.Host = r.In.Host
			if enc, ok := r.In.Context().Value(resignKey{}).(*encryption); ok {
				resign(r.Out, enc)
			}
		},
		ModifyResponse: p.modifyResponse,
		Transport:      tr,
		FlushInterval:  -1,
	}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(func() {
		p.srv.Close()
		tr.CloseIdleConnections()
	})
	return p
}

// URL returns the proxy's base URL, "http://127.0.0.1:PORT".
func (p *Proxy) URL() string { return p.srv.URL }

// SetFault installs f, called for every request; nil clears it.
func (p *Proxy) SetFault(f func(Request) Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = f
}

// EmulateMinIOComplete makes the proxy answer as MinIO does: once a
// CompleteMultipartUpload for an upload ID got 200, every later one for that
// ID gets 404 NoSuchUpload without reaching the server.
func (p *Proxy) EmulateMinIOComplete() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.emulateMinIO = true
}

// Exchanges returns a copy of all exchanges so far, in completion order.
func (p *Proxy) Exchanges() []Exchange {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Exchange(nil), p.exchanges...)
}

// Count returns how many requests of op completed.
func (p *Proxy) Count(op Op) int { return p.CountStatus(op, 0) }

// CountStatus returns how many requests of op were answered with status
// (any status when status is 0).
func (p *Proxy) CountStatus(op Op, status int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, e := range p.exchanges {
		if e.Op == op && (status == 0 || e.Status == status) {
			n++
		}
	}
	return n
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	ex := classify(r)
	ex.Header = r.Header.Clone()
	if r.Body != nil {
		r.Body = countingBody{ReadCloser: r.Body, n: &p.bodyBytes}
	}
	req := Request{Op: ex.Op, Key: ex.Key, UploadID: ex.UploadID, PartNumber: ex.PartNumber}
	p.mu.Lock()
	p.seq[ex.Op]++
	req.Seq = p.seq[ex.Op]
	faultFn := p.fault
	p.mu.Unlock()

	var f Fault
	if faultFn != nil {
		f = faultFn(req)
	}
	// The exchange is recorded when its status is written, before the client can see the
	// answer: a test that counts right after a response, or a Complete that follows one,
	// must find it. Requests that never get a status are recorded on return.
	recorded := false
	record := func(status int) {
		if recorded {
			return
		}
		recorded = true
		ex.Status = status
		p.mu.Lock()
		defer p.mu.Unlock()
		p.exchanges = append(p.exchanges, ex)
		if ex.Op == OpCompleteMultipartUpload && ex.Status == http.StatusOK && !ex.Injected {
			p.completedUpload[ex.UploadID] = true
		}
	}
	rec := &statusRecorder{ResponseWriter: w, onStatus: record}
	defer func() { record(rec.status) }()

	if f.Delay > 0 {
		timer := time.NewTimer(f.Delay)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			return // client gone; status stays 0
		}
	}
	switch {
	case f.Drop:
		drop(w)
		return
	case f.TruncateBody:
		if r.Body != nil {
			_, _ = io.CopyN(io.Discard, r.Body, max(r.ContentLength/2, 0))
		}
		drop(w)
		return
	case f.ErrorIn200:
		ex.Injected = true
		writeS3Error(rec, r, http.StatusOK, "InternalError")
		return
	case f.Status != 0 || f.Code != "":
		ex.Injected = true
		writeS3Error(rec, r, f.Status, f.Code)
		return
	}
	if ex.Op == OpCompleteMultipartUpload && p.alreadyCompleted(ex.UploadID) {
		writeS3Error(rec, r, http.StatusNotFound, "NoSuchUpload")
		return
	}
	p.mu.Lock()
	refuse, enc := p.refuseChecksums && carriesChecksum(r), p.encrypted
	p.mu.Unlock()
	switch {
	case refuse:
		writeS3Error(rec, r, http.StatusNotImplemented, "NotImplemented")
		return
	case p.hidden(ex):
		writeS3Error(rec, r, http.StatusNotFound, "NoSuchKey")
		return
	case enc != nil && ex.Op == OpCompleteMultipartUpload:
		var err error
		if r, err = p.translateComplete(r, ex); err != nil {
			http.Error(rec, "testenv proxy: read body: "+err.Error(), http.StatusBadGateway)
			return
		}
	}
	if f.CorruptBody && r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(rec, "testenv proxy: read body: "+err.Error(), http.StatusBadGateway)
			return
		}
		if len(b) > 0 {
			b[len(b)/2] ^= 0xff
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	if f.DelayResponse > 0 {
		p.serveDelayed(rec, r, f.DelayResponse)
		return
	}
	p.rp.ServeHTTP(rec, r)
}

// serveDelayed forwards r on a context the client cannot cancel, then holds the answer for d
// (or until the client goes) before passing it on.
func (p *Proxy) serveDelayed(w http.ResponseWriter, r *http.Request, d time.Duration) {
	clientGone := r.Context().Done()
	buf := httptest.NewRecorder()
	p.rp.ServeHTTP(buf, r.WithContext(context.WithoutCancel(r.Context())))
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-clientGone:
		return
	}
	maps.Copy(w.Header(), buf.Header())
	w.WriteHeader(buf.Code)
	_, _ = w.Write(buf.Body.Bytes())
}

func (p *Proxy) alreadyCompleted(uploadID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.emulateMinIO && p.completedUpload[uploadID]
}

// classify names the S3 operation of a path-style request.
func classify(r *http.Request) Exchange {
	q := r.URL.Query()
	path := r.URL.Path
	bucket, key, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	ex := Exchange{Op: OpOther, Method: r.Method, Path: path, Key: key, UploadID: q.Get("uploadId")}
	ex.PartNumber, _ = strconv.Atoi(q.Get("partNumber"))
	hasUploadID := q.Has("uploadId")
	subresource := false
	for _, s := range []string{"acl", "tagging", "retention", "legal-hold", "attributes", "torrent", "restore", "select"} {
		subresource = subresource || q.Has(s)
	}
	switch {
	case bucket == "":
	case key == "":
		if r.Method == http.MethodGet && q.Has("uploads") {
			ex.Op = OpListMultipartUploads
		}
	case r.Method == http.MethodPost && q.Has("uploads"):
		ex.Op = OpCreateMultipartUpload
	case r.Method == http.MethodPost && hasUploadID:
		ex.Op = OpCompleteMultipartUpload
	case r.Method == http.MethodPut && hasUploadID && q.Has("partNumber"):
		ex.Op = OpUploadPart
	case r.Method == http.MethodDelete && hasUploadID:
		ex.Op = OpAbortMultipartUpload
	case r.Method == http.MethodGet && hasUploadID:
		ex.Op = OpListParts
	case subresource:
	case r.Method == http.MethodPut && !hasUploadID:
		ex.Op = OpPutObject
	case r.Method == http.MethodHead:
		ex.Op = OpHeadObject
	case r.Method == http.MethodGet:
		ex.Op = OpGetObject
	}
	return ex
}

// writeS3Error answers like an S3 server does, after draining the request
// body so the client reads the answer instead of a reset connection.
func writeS3Error(w http.ResponseWriter, r *http.Request, status int, code string) {
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if code == "" {
		code = defaultCode(status)
	}
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
	}
	var body bytes.Buffer
	body.WriteString(xml.Header)
	_ = xml.NewEncoder(&body).Encode(struct {
		XMLName   xml.Name `xml:"Error"`
		Code      string
		Message   string
		Resource  string
		RequestID string `xml:"RequestId"`
	}{
		Code:      code,
		Message:   fmt.Sprintf("injected by the partflow test proxy (%d %s)", status, code),
		Resource:  r.URL.Path,
		RequestID: "partflow-proxy",
	})
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(body.Len()))
	w.Header().Set("X-Amz-Request-Id", "partflow-proxy")
	w.WriteHeader(status)
	_, _ = w.Write(body.Bytes())
}

func defaultCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "InvalidRequest"
	case http.StatusForbidden:
		return "AccessDenied"
	case http.StatusNotFound:
		return "NoSuchKey"
	case http.StatusServiceUnavailable:
		return "SlowDown"
	default:
		return "InternalError"
	}
}

// drop closes the client connection without answering.
func drop(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // also ends the connection without a response
	}
	_ = conn.Close()
}

// statusRecorder remembers the status written through it.
type statusRecorder struct {
	http.ResponseWriter
	status   int
	onStatus func(int) // called once, before the status reaches the client
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
		s.onStatus(code)
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
		s.onStatus(http.StatusOK)
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
