package redisconn

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/redis/go-redis/v9"
)

// quietOnce installs debugLogger as go-redis's logger the first time Open runs.
var quietOnce sync.Once

// debugLogger sends go-redis's own log lines (a failed dial, a pool or sentinel event) to
// slog's default logger at debug level instead of straight to stderr, so a program prints
// only its own messages about Redis (go-redis also returns those errors to the caller, which
// reports them). The lines carry addresses, never passwords.
type debugLogger struct{}

func (debugLogger) Printf(ctx context.Context, format string, v ...any) {
	slog.Default().DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}

// quietGoRedis replaces go-redis's stderr logger (a process-wide setting of go-redis).
func quietGoRedis() { quietOnce.Do(func() { redis.SetLogger(debugLogger{}) }) }
