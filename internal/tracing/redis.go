package tracing

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"net"
	"strings"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// RedisHook returns a go-redis hook that spans every command and pipeline run on behalf of a
// traced task or upload (a context whose span is recording; asynq's own polling makes none).
// scripts maps a Lua script's SHA-1 to its name (state.ScriptNames), so that EVALSHA spans
// say which script ran. Add it only with tracing on: with p nil it is nil.
func (p *Provider) RedisHook(scripts map[string]string) redis.Hook {
	if p == nil {
		return nil
	}
	return redisHook{p: p, scripts: scripts}
}

type redisHook struct {
	p       *Provider
	scripts map[string]string
}

func (h redisHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !trace.SpanFromContext(ctx).IsRecording() {
			return next(ctx, cmd)
		}
		ctx, span := h.start(ctx, "redis "+h.operation(cmd), attribute.String("db.operation.name", strings.ToUpper(cmd.Name())))
		err := next(ctx, cmd)
		h.end(span, err)
		return err
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !trace.SpanFromContext(ctx).IsRecording() {
			return next(ctx, cmds)
		}
		ctx, span := h.start(ctx, "redis pipeline", attribute.Int("db.operation.batch.size", len(cmds)))
		err := next(ctx, cmds)
		h.end(span, err)
		return err
	}
}

// operation names a command for its span: the script's name for EVALSHA, else the command.
// Arguments are never recorded (they hold keys and record fields).
func (h redisHook) operation(cmd redis.Cmder) string {
	name := strings.ToUpper(cmd.Name())
	args := cmd.Args()
	if len(args) < 2 || (name != "EVALSHA" && name != "EVAL") {
		return name
	}
	arg, _ := args[1].(string)
	if name == "EVAL" { // the script's source, sent once per server after NOSCRIPT
		sum := sha1.Sum([]byte(arg))
		arg = hex.EncodeToString(sum[:])
	}
	if script := h.scripts[arg]; script != "" {
		return name + " " + script
	}
	return name
}

func (h redisHook) start(ctx context.Context, name string, attr attribute.KeyValue) (context.Context, trace.Span) {
	return h.p.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", "redis"), attr))
}

func (h redisHook) end(span trace.Span, err error) {
	if errors.Is(err, redis.Nil) || redis.HasErrorPrefix(err, "NOSCRIPT") {
		// A missing key is an answer; NOSCRIPT makes go-redis send the script's source
		// (EVAL) once per server: neither is a failure.
		err = nil
	}
	End(span, err)
}
