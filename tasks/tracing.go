package tasks

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/tracing"
)

// Spans of the handlers' own work, children of the task's span (see tracing.Middleware).
// With tracing off they cost nothing: tracing.Start then makes no span.
const (
	spanSourceStat = "source stat"
	spanSourceRead = "source read"
)

// traced names j's upload on the task's span, and gives j's logger the trace and span IDs.
func traced(ctx context.Context, j job) job {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(attribute.String("partflow.upload_id", j.u.ID.String()),
			attribute.String("partflow.bucket", j.u.Bucket), attribute.String("partflow.key", j.u.Key))
	}
	j.log = tracing.Logger(ctx, j.log)
	return j
}

// statSource stats j's source in a "source stat" span.
func (h *Handlers) statSource(ctx context.Context, j job) (source.Info, error) {
	ctx, span := tracing.Start(ctx, spanSourceStat)
	info, err := h.sources.Stat(ctx, j.u.Source)
	tracing.End(span, err)
	return info, err
}

// readSource reads len(buf) bytes of j's source (as want describes it) at off, in a
// "source read" span.
func (h *Handlers) readSource(ctx context.Context, j job, want source.Info, off int64, buf []byte) error {
	ctx, span := tracing.Start(ctx, spanSourceRead)
	if span.IsRecording() {
		span.SetAttributes(attribute.Int64("partflow.source.offset", off), attribute.Int("partflow.source.bytes", len(buf)))
	}
	err := h.sources.ReadAt(ctx, j.u.Source, want, off, buf)
	tracing.End(span, err)
	return err
}
