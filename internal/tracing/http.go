package tracing

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Transport wraps rt (the S3 client's transport) with otelhttp: a client span per request
// made on behalf of a traced task, named after the S3 operation. Requests outside a trace
// (probes) make none; no trace header is sent to the server; url.full is recorded without
// its query string (which could hold a presigned signature). With p nil it returns rt.
func (p *Provider) Transport(rt http.RoundTripper) http.RoundTripper {
	if p == nil {
		return rt
	}
	if rt == nil {
		rt = http.DefaultTransport
	}
	return otelhttp.NewTransport(redactedURL{rt},
		otelhttp.WithTracerProvider(p.tp),
		otelhttp.WithPropagators(propagation.NewCompositeTextMapPropagator()),
		otelhttp.WithFilter(func(r *http.Request) bool { return trace.SpanFromContext(r.Context()).IsRecording() }),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "S3 " + S3Operation(r) }))
}

// redactedURL replaces the url.full that otelhttp recorded with the URL without its query.
type redactedURL struct{ next http.RoundTripper }

func (t redactedURL) RoundTrip(r *http.Request) (*http.Response, error) {
	if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
		u := *r.URL
		u.User, u.RawQuery, u.ForceQuery = nil, "", false
		span.SetAttributes(attribute.String("url.full", u.String()))
	}
	return t.next.RoundTrip(r)
}

// S3Operation names the S3 call a request makes, for span names: UploadPart,
// CreateMultipartUpload, CompleteMultipartUpload, AbortMultipartUpload, ListParts,
// ListMultipartUploads, GetBucketLocation, PutObject, HeadObject, GetObject, else the method.
func S3Operation(r *http.Request) string {
	q := r.URL.Query()
	_, uploads := q["uploads"]
	_, location := q["location"]
	upload := q.Get("uploadId") != ""
	switch {
	case location:
		return "GetBucketLocation"
	case r.Method == http.MethodPut && upload && q.Get("partNumber") != "":
		return "UploadPart"
	case r.Method == http.MethodPost && uploads:
		return "CreateMultipartUpload"
	case r.Method == http.MethodPost && upload:
		return "CompleteMultipartUpload"
	case r.Method == http.MethodDelete && upload:
		return "AbortMultipartUpload"
	case r.Method == http.MethodGet && upload:
		return "ListParts"
	case r.Method == http.MethodGet && uploads:
		return "ListMultipartUploads"
	case r.Method == http.MethodPut:
		return "PutObject"
	case r.Method == http.MethodHead:
		return "HeadObject"
	case r.Method == http.MethodGet:
		return "GetObject"
	}
	return r.Method
}
