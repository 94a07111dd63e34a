package tracing_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/partflow/partflow/internal/tracing"
)

// setup returns a provider whose spans are recorded synchronously.
func setup(t *testing.T) (*tracing.Provider, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	p, err := tracing.NewWithProcessor(t.Context(), tracing.Config{ServiceName: "test"}, sdktrace.NewSimpleSpanProcessor(exp))
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Shutdown(context.WithoutCancel(t.Context())) })
	return p, exp
}

func named(spans tracetest.SpanStubs, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// run runs handler behind the middleware as asynq would, with a task of these headers.
func run(p *tracing.Provider, headers map[string]string, handler asynq.HandlerFunc) error {
	return p.Middleware(handler).ProcessTask(context.Background(), asynq.NewTaskWithHeaders("upload:part", nil, headers))
}

func TestHeadersCarryTheTraceToTheTask(t *testing.T) {
	t.Parallel()
	p, exp := setup(t)
	ctx, span := p.StartUpload(t.Context(), "m.0123456789abcdef", "b", "k")
	headers := tracing.Headers(ctx)
	span.End()
	require.Contains(t, headers, "traceparent")
	at, ok := tracing.EnqueuedAt(headers)
	require.True(t, ok, "the enqueue time travels too")
	require.WithinDuration(t, time.Now(), at, time.Minute)

	var inTask trace.SpanContext
	require.NoError(t, run(p, headers, func(ctx context.Context, _ *asynq.Task) error {
		inTask = trace.SpanContextFromContext(ctx)
		return nil
	}))
	spans := exp.GetSpans()
	task := named(spans, "upload:part")
	require.Len(t, task, 1)
	require.Equal(t, span.SpanContext().TraceID(), task[0].SpanContext.TraceID(), "the task continues the upload's trace")
	require.Equal(t, span.SpanContext().SpanID(), task[0].Parent.SpanID(), "the task span's parent is the enqueue")
	require.True(t, task[0].Parent.IsRemote())
	require.Equal(t, task[0].SpanContext.SpanID(), inTask.SpanID(), "the handler runs in the task's span")
	wait := named(spans, tracing.QueueWaitSpan)
	require.Len(t, wait, 1)
	require.Equal(t, task[0].SpanContext.SpanID(), wait[0].Parent.SpanID())
	require.Equal(t, at, wait[0].StartTime, "the queue wait starts at the enqueue")
}

func TestMalformedOrAbsentTraceContextNeverFailsATask(t *testing.T) {
	t.Parallel()
	p, exp := setup(t)
	for _, headers := range []map[string]string{
		nil,
		{},
		{"traceparent": "garbage", tracing.HeaderEnqueuedAt: "yesterday"},
		{"traceparent": "00-00000000000000000000000000000000-0000000000000000-01"},
		{"traceparent": "00-zz" + strings.Repeat("0", 30) + "-xx-01", "tracestate": "=,=", tracing.HeaderEnqueuedAt: "-5"},
	} {
		ran := false
		require.NoError(t, run(p, headers, func(ctx context.Context, _ *asynq.Task) error {
			ran = true
			return nil
		}), "headers %v", headers)
		require.True(t, ran, "the handler ran with headers %v", headers)
	}
	for _, s := range named(exp.GetSpans(), "upload:part") {
		require.False(t, s.Parent.IsValid(), "a task without a valid trace context starts a trace of its own")
	}
	require.Empty(t, named(exp.GetSpans(), tracing.QueueWaitSpan), "no queue wait without a valid enqueue time")
}

func TestFailedAttemptRecordsTheErrorAndTheRetry(t *testing.T) {
	t.Parallel()
	p, exp := setup(t)
	boom := errors.New("tasks: upload part 2: slow down")
	require.ErrorIs(t, run(p, nil, func(context.Context, *asynq.Task) error { return boom }), boom)
	// Outside an asynq server the max retry is 0: no retry is announced.
	require.ErrorIs(t, run(p, nil, func(context.Context, *asynq.Task) error { return asynq.SkipRetry }), asynq.SkipRetry)
	for _, s := range named(exp.GetSpans(), "upload:part") {
		require.Equal(t, "Error", s.Status.Code.String())
		require.NotEmpty(t, s.Events)
		require.Equal(t, "exception", s.Events[0].Name, "the error is an event on the attempt's span")
	}
}

func TestTracingOff(t *testing.T) {
	t.Parallel()
	var p *tracing.Provider // what New returns when tracing is off
	got, err := tracing.New(t.Context(), tracing.Config{LookupEnv: func(string) (string, bool) { return "", false }})
	require.NoError(t, err)
	require.Nil(t, got, "no exporter starts without --otel or an OTLP endpoint")
	require.Nil(t, tracing.Headers(t.Context()), "no headers without a trace")
	next := asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil })
	require.NotNil(t, p.Middleware(next))
	require.Same(t, http.DefaultTransport, p.Transport(http.DefaultTransport))
	require.Nil(t, p.RedisHook(nil))
	ctx, span := p.StartUpload(t.Context(), "id", "b", "k")
	require.False(t, span.IsRecording())
	require.Empty(t, tracing.TraceID(ctx))
	require.NoError(t, p.Close(t.Context()))
}

func TestConfig(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) (string, bool) {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	require.False(t, tracing.Config{LookupEnv: env()}.On())
	require.True(t, tracing.Config{Enabled: true, LookupEnv: env()}.On())
	require.True(t, tracing.Config{LookupEnv: env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x:4318")}.On())
	require.True(t, tracing.Config{LookupEnv: env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://x:4318/v1/traces")}.On())
	require.False(t, tracing.Config{Enabled: true, LookupEnv: env("OTEL_SDK_DISABLED", "true")}.On())

	on := func(kv ...string) tracing.Config { return tracing.Config{Enabled: true, LookupEnv: env(kv...)} }
	require.NoError(t, on("OTEL_TRACES_SAMPLER", "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG", "0.25").Validate())
	require.ErrorContains(t, on("OTEL_TRACES_SAMPLER", "sometimes").Validate(), "OTEL_TRACES_SAMPLER")
	require.ErrorContains(t, on("OTEL_TRACES_SAMPLER", "traceidratio", "OTEL_TRACES_SAMPLER_ARG", "2").Validate(), "OTEL_TRACES_SAMPLER_ARG")
	require.ErrorContains(t, on("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc").Validate(), "OTEL_EXPORTER_OTLP_PROTOCOL")
	require.NoError(t, tracing.Config{LookupEnv: env("OTEL_TRACES_SAMPLER", "sometimes")}.Validate(), "off: not checked")
}

func TestS3Operation(t *testing.T) {
	t.Parallel()
	for want, req := range map[string]string{
		"UploadPart":              "PUT /b/k?partNumber=2&uploadId=u",
		"CreateMultipartUpload":   "POST /b/k?uploads=",
		"CompleteMultipartUpload": "POST /b/k?uploadId=u",
		"AbortMultipartUpload":    "DELETE /b/k?uploadId=u",
		"ListParts":               "GET /b/k?uploadId=u",
		"ListMultipartUploads":    "GET /b?uploads=",
		"GetBucketLocation":       "GET /b?location=",
		"PutObject":               "PUT /b/k",
		"HeadObject":              "HEAD /b/k",
	} {
		method, target, _ := strings.Cut(req, " ")
		r, err := http.NewRequest(method, "http://s3"+target, nil)
		require.NoError(t, err)
		require.Equal(t, want, tracing.S3Operation(r), req)
	}
}
