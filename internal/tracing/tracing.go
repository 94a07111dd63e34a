// Package tracing is partflow's OpenTelemetry tracing: the exporter's setup and shutdown, the
// trace context carried in asynq task headers, the asynq middleware that continues it in a
// worker, and the spans of Redis commands, S3 requests and source reads.
//
// # Configuration
//
// Tracing is off unless Config.Enabled (the commands' --otel) or OTEL_EXPORTER_OTLP_ENDPOINT
// or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set; OTEL_SDK_DISABLED=true turns it off
// whatever else says. Spans go to an OTLP/HTTP receiver (protocol http/protobuf or
// http/json); the OpenTelemetry SDK reads the other standard variables itself:
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER and
// OTEL_TRACES_SAMPLER_ARG (default parentbased_always_on; parentbased_traceidratio with a
// ratio samples that share of uploads), OTEL_EXPORTER_OTLP_HEADERS, OTEL_BSP_*.
//
// # Implementation
//
// One upload is one trace: the enqueuer starts it (a root span per upload, linked to its
// migration's span) and the constructors in package tasks put its context in the task
// headers (W3C traceparent and tracestate, plus the enqueue time). The worker's
// middleware continues it with a span per task attempt, a "queue wait" child span from the
// enqueue time to the start of processing, and the task's error as an event; the handlers'
// tasks carry the context on. With tracing off no provider exists, no header is written and
// nothing on a task's path allocates for tracing.
//
// # Considerations
//
// A trace context that is absent or malformed is ignored: the task runs as a new trace's
// root. Headers and span attributes never carry secrets (no credentials, request headers or
// query strings).
package tracing

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Name is the instrumentation scope of partflow's spans.
const Name = "github.com/partflow/partflow"

// Config says whether to trace. The commands fill it from --otel and the environment.
type Config struct {
	// Enabled turns tracing on even without an OTLP endpoint variable (the exporter then
	// sends to its default, http://localhost:4318).
	Enabled bool
	// ServiceName is service.name unless OTEL_SERVICE_NAME says otherwise.
	ServiceName string
	// Version is service.version.
	Version string
	// LookupEnv reads the environment (os.LookupEnv); nil reads nothing.
	LookupEnv func(string) (string, bool)
}

// samplers are the values of OTEL_TRACES_SAMPLER the SDK understands.
var samplers = []string{"always_on", "always_off", "traceidratio", "parentbased_always_on",
	"parentbased_always_off", "parentbased_traceidratio"}

func (c Config) env(name string) string {
	if c.LookupEnv == nil {
		return ""
	}
	v, _ := c.LookupEnv(name)
	return v
}

// On reports whether c turns tracing on.
func (c Config) On() bool {
	if strings.EqualFold(strings.TrimSpace(c.env("OTEL_SDK_DISABLED")), "true") {
		return false
	}
	return c.Enabled || c.env("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || c.env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Validate checks, when c turns tracing on, the variables the SDK would otherwise ignore
// with a log line: the sampler, its ratio and the exporter protocol. The error names the
// variable.
func (c Config) Validate() error {
	if !c.On() {
		return nil
	}
	if s := c.env("OTEL_TRACES_SAMPLER"); s != "" {
		ok := false
		for _, name := range samplers {
			ok = ok || s == name
		}
		if !ok {
			return fmt.Errorf("tracing: OTEL_TRACES_SAMPLER %q: want one of %s", s, strings.Join(samplers, ", "))
		}
		if arg := c.env("OTEL_TRACES_SAMPLER_ARG"); strings.HasSuffix(s, "traceidratio") && arg != "" {
			r, err := strconv.ParseFloat(arg, 64)
			if err != nil || r < 0 || r > 1 {
				return fmt.Errorf("tracing: OTEL_TRACES_SAMPLER_ARG %q: want a ratio from 0 to 1", arg)
			}
		}
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
		if p := c.env(name); p != "" && p != "http/protobuf" && p != "http/json" {
			return fmt.Errorf("tracing: %s %q: partflow exports OTLP over HTTP (http/protobuf or http/json)", name, p)
		}
	}
	return nil
}

// Provider makes partflow's spans. A nil *Provider is tracing off: every method is then a
// no-op.
type Provider struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
}

// New starts the OTLP exporter when cfg turns tracing on, and returns nil (tracing off)
// otherwise. Shut the provider down on exit to flush its spans.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if !cfg.On() {
		return nil, nil
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	return NewWithProcessor(ctx, cfg, sdktrace.NewBatchSpanProcessor(exp))
}

// NewWithProcessor returns a provider whose spans go to sp (tests pass a synchronous
// processor with an in-memory exporter). The sampler comes from OTEL_TRACES_SAMPLER.
func NewWithProcessor(ctx context.Context, cfg Config, sp sdktrace.SpanProcessor) (*Provider, error) {
	name := cfg.ServiceName
	if name == "" {
		name = "partflow"
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", name)}
	if cfg.Version != "" {
		attrs = append(attrs, attribute.String("service.version", cfg.Version))
	}
	// Later options win: OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME override the defaults.
	res, err := resource.New(ctx, resource.WithAttributes(attrs...), resource.WithTelemetrySDK(), resource.WithFromEnv())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSpanProcessor(sp))
	return &Provider{tp: tp, tracer: tp.Tracer(Name)}, nil
}

// Shutdown flushes the spans not yet exported and stops the exporter, within ctx.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	if err := p.tp.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}

// ShutdownTimeout is how long Close waits for the last spans to be exported.
const ShutdownTimeout = 5 * time.Second

// Close flushes and stops the provider on a context of its own (cleanup must run even when
// the command's context has ended) and returns the error, if any.
func (p *Provider) Close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	return p.Shutdown(ctx)
}

// TracerProvider is the provider's OpenTelemetry TracerProvider (nil when p is nil).
func (p *Provider) TracerProvider() trace.TracerProvider {
	if p == nil {
		return nil
	}
	return p.tp
}
