package tasks

import (
	"context"
	"log/slog"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/tracing"
)

// nullSource reads nothing, so that the benchmarks measure the code around a read.
type nullSource struct{}

func (nullSource) Stat(context.Context, string) (source.Info, error) { return source.Info{}, nil }
func (nullSource) ReadAt(context.Context, string, source.Info, int64, []byte) error {
	return nil
}

var benchUpload = state.Upload{ID: state.UploadID{Migration: "m", Name: "0123456789abcdef"}, Source: "src",
	Bucket: "b", Key: "k", Size: 15 << 20, PartSize: 5 << 20, Parts: 3, S3UploadID: "s3"}

// sinkTask receives the tasks the benchmarks build, as the queue's EnqueueContext would
// (so that they escape to the heap as real tasks do).
var sinkTask *asynq.Task

// newPartTaskBefore is NewPartTask as it was before tracing.
func newPartTaskBefore(u state.Upload, n int, queue string) *asynq.Task {
	return asynq.NewTask(TypePart, mustJSON(PartPayload{UploadID: u.ID.String(), Part: n, S3UploadID: u.S3UploadID,
		Parts: u.Parts}),
		asynq.TaskID(PartTaskID(u, n)), asynq.Queue(queue), asynq.MaxRetry(PartRetries),
		asynq.Timeout(PartTimeout(u.PartSize)))
}

// partPathBefore is what the instrumented steps of a part did before tracing: the task as
// NewPartTask built it, the job's logger as load made it, and the source read.
func partPathBefore(ctx context.Context, h *Handlers, buf []byte) {
	u := benchUpload
	t := newPartTaskBefore(u, 2, QueueDefault)
	sinkTask = t
	j := job{u: u, log: h.log.With("upload_id", u.ID.String(), "bucket", u.Bucket, "key", u.Key), task: t.Type()}
	_ = h.sources.ReadAt(ctx, j.u.Source, source.Info{}, 0, buf)
}

// partPathNow is the same steps as the handlers take them now, with their tracing.
func partPathNow(ctx context.Context, h *Handlers, buf []byte) {
	u := benchUpload
	t := NewPartTask(ctx, u, 2, QueueDefault)
	sinkTask = t
	j := traced(ctx, job{u: u, log: h.log.With("upload_id", u.ID.String(), "bucket", u.Bucket, "key", u.Key), task: t.Type()})
	_ = h.readSource(ctx, j, source.Info{}, 0, buf)
}

func benchHandlers() *Handlers {
	return &Handlers{log: slog.New(slog.DiscardHandler), sources: nullSource{}}
}

// tracedContext returns a context whose span records, as a traced task's does, with spans
// going to an in-memory exporter.
func tracedContext(tb testing.TB) context.Context {
	p, err := tracing.NewWithProcessor(context.Background(), tracing.Config{},
		sdktrace.NewSimpleSpanProcessor(tracetest.NewNoopExporter()))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	ctx, span := p.StartUpload(context.Background(), benchUpload.ID.String(), "b", "k")
	tb.Cleanup(func() { span.End() })
	return ctx
}

// BenchmarkPartPath compares the instrumented steps of a part before tracing, with tracing
// off and with a recorded trace:
//
//	go test -run '^$' -bench BenchmarkPartPath -benchmem ./tasks/
func BenchmarkPartPath(b *testing.B) {
	h, buf := benchHandlers(), make([]byte, 16)
	b.Run("before", func(b *testing.B) {
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			partPathBefore(ctx, h, buf)
		}
	})
	b.Run("tracing-off", func(b *testing.B) {
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			partPathNow(ctx, h, buf)
		}
	})
	b.Run("tracing-on", func(b *testing.B) {
		ctx := tracedContext(b)
		b.ReportAllocs()
		for b.Loop() {
			partPathNow(ctx, h, buf)
		}
	})
}

// TestTracingOffAllocatesNothingExtra: with tracing off (no span in the context), the part
// path's task, job and source read allocate exactly what they did before tracing existed.
func TestTracingOffAllocatesNothingExtra(t *testing.T) {
	h, buf := benchHandlers(), make([]byte, 16)
	ctx := context.Background()
	before := testing.AllocsPerRun(200, func() { partPathBefore(ctx, h, buf) })
	off := testing.AllocsPerRun(200, func() { partPathNow(ctx, h, buf) })
	traced := tracedContext(t)
	on := testing.AllocsPerRun(200, func() { partPathNow(traced, h, buf) })
	t.Logf("allocations per part path: before %.0f, tracing off %.0f, tracing on %.0f", before, off, on)
	require.Equal(t, before, off, "tracing off allocates nothing extra")
	require.Greater(t, on, off, "the traced path is measured (it records spans)")
}
