package tracing

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// HeaderEnqueuedAt is the task header holding when the task was made (Unix nanoseconds),
// the start of its "queue wait" span. The trace context travels in the W3C headers
// traceparent and tracestate.
const HeaderEnqueuedAt = "partflow-enqueued-at"

// propagator writes and reads the W3C trace context; a fixed value, not the global one.
var propagator = propagation.TraceContext{}

// Headers returns the task headers that carry ctx's trace on to a task: the trace context and
// the enqueue time. It returns nil (allocating nothing) when ctx carries no trace, as always
// with tracing off.
func Headers(ctx context.Context) map[string]string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	h := make(map[string]string, 3)
	propagator.Inject(ctx, propagation.MapCarrier(h))
	h[HeaderEnqueuedAt] = strconv.FormatInt(time.Now().UnixNano(), 10)
	return h
}

// Extract returns ctx with the remote trace context that headers carry; absent or
// malformed headers leave ctx as it is.
func Extract(ctx context.Context, headers map[string]string) context.Context {
	if headers == nil {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier(headers))
}

// EnqueuedAt returns the enqueue time that headers carry, if they carry a valid one.
func EnqueuedAt(headers map[string]string) (time.Time, bool) {
	ns, err := strconv.ParseInt(headers[HeaderEnqueuedAt], 10, 64)
	if err != nil || ns <= 0 {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

// Start starts a child span of ctx's span when that one is recording, and otherwise
// returns ctx and its (non-recording) span unchanged, allocating nothing. Set attributes
// only when span.IsRecording(), so that tracing off costs nothing.
func Start(ctx context.Context, name string) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, parent
	}
	return parent.TracerProvider().Tracer(Name).Start(ctx, name)
}

// End records err (if any) on span as an error event and status, and ends it.
func End(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// TraceID returns the ID of ctx's trace when it is sampled (a trace that is exported), else
// "". Upload records keep it for the monitor's trace link.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() || !sc.IsSampled() {
		return ""
	}
	return sc.TraceID().String()
}

// Logger returns log with the trace_id and span_id of ctx's span, so that log lines and
// traces join; log itself when ctx carries no trace.
func Logger(ctx context.Context, log *slog.Logger) *slog.Logger {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return log
	}
	return log.With("trace_id", sc.TraceID().String(), "span_id", sc.SpanID().String())
}

// StartMigration starts the span of a migration's enqueue, the root of a trace of its own
// (its uploads' traces link to it). With p nil it starts nothing and returns ctx.
func (p *Provider) StartMigration(ctx context.Context, id string) (context.Context, trace.Span) {
	if p == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	return p.tracer.Start(ctx, "enqueue migration", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("partflow.migration_id", id)))
}

// StartUpload starts the span of an upload's enqueue: the root of the upload's trace, which
// its tasks continue, linked to ctx's span (its migration's). With p nil it starts nothing
// and returns ctx.
func (p *Provider) StartUpload(ctx context.Context, id, bucket, key string) (context.Context, trace.Span) {
	if p == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	return p.tracer.Start(ctx, "enqueue upload", trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithLinks(trace.LinkFromContext(ctx)),
		trace.WithAttributes(attribute.String("partflow.upload_id", id), attribute.String("partflow.bucket", bucket),
			attribute.String("partflow.key", key)))
}
