package tracing

import (
	"context"
	"errors"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// QueueWaitSpan is the name of the span from a task's enqueue to the start of its first
// attempt.
const QueueWaitSpan = "queue wait"

// Middleware continues the trace that a task's headers carry (a new trace when they carry
// none, or a malformed one) with a span per attempt named after the task type. On a first
// attempt it adds a "queue wait" child span from the enqueue time to now; an attempt that
// fails records the error, and a "TaskRetry" event when asynq will try again. With p nil,
// it returns next.
func (p *Provider) Middleware(next asynq.Handler) asynq.Handler {
	if p == nil {
		return next
	}
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		headers := t.Headers()
		ctx = Extract(ctx, headers)
		retried, _ := asynq.GetRetryCount(ctx)
		maxRetry, _ := asynq.GetMaxRetry(ctx)
		id, _ := asynq.GetTaskID(ctx)
		queue, _ := asynq.GetQueueName(ctx)
		now := time.Now()
		ctx, span := p.tracer.Start(ctx, t.Type(), trace.WithSpanKind(trace.SpanKindConsumer), trace.WithTimestamp(now),
			trace.WithAttributes(attribute.String("messaging.system", "asynq"),
				attribute.String("messaging.operation.type", "process"),
				attribute.String("messaging.destination.name", queue), attribute.String("messaging.message.id", id),
				attribute.Int("partflow.task.attempt", retried+1)))
		defer span.End()
		if at, ok := EnqueuedAt(headers); ok && retried == 0 && at.Before(now) {
			_, wait := p.tracer.Start(ctx, QueueWaitSpan, trace.WithTimestamp(at))
			wait.End(trace.WithTimestamp(now))
		}
		err := next.ProcessTask(ctx, t)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
			if !errors.Is(err, asynq.SkipRetry) && !errors.Is(err, asynq.RevokeTask) && retried < maxRetry {
				span.AddEvent("TaskRetry", trace.WithAttributes(attribute.Int("partflow.task.next_attempt", retried+2),
					attribute.String("error.message", err.Error())))
			}
		}
		return err
	})
}
