package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/partflow/partflow/internal/redisconn"
)

// RedisFlags are --redis-url and --redis-cluster, which every command takes.
type RedisFlags struct {
	URL     *string
	Cluster *bool
}

// Redis defines --redis-url (PARTFLOW_REDIS_URL) and --redis-cluster (PARTFLOW_REDIS_CLUSTER).
func (f *Flags) Redis() RedisFlags {
	return RedisFlags{
		URL: f.StringEnv("redis-url", "PARTFLOW_REDIS_URL", "redis://127.0.0.1:6379/0",
			"Redis URL: redis://, rediss://, redis-sentinel://"),
		Cluster: f.BoolEnv("redis-cluster", "PARTFLOW_REDIS_CLUSTER", false,
			"treat --redis-url as a comma list of cluster seeds"),
	}
}

// Config returns the parsed flags as a redisconn.Config.
func (r RedisFlags) Config() redisconn.Config {
	return redisconn.Config{URL: *r.URL, Cluster: *r.Cluster}
}

// LogFlags are --log-format and --log-level, which the long-running commands take.
type LogFlags struct {
	Format *string
	Level  *string
}

// Log defines --log-format (PARTFLOW_LOG_FORMAT) and --log-level (PARTFLOW_LOG_LEVEL).
func (f *Flags) Log() LogFlags {
	return LogFlags{
		Format: f.ChoiceEnv("log-format", "PARTFLOW_LOG_FORMAT", "", []string{"text", "json"},
			"text or json; default json unless stderr is a terminal"),
		Level: f.ChoiceEnv("log-level", "PARTFLOW_LOG_LEVEL", "info", []string{"debug", "info", "warn", "error"},
			"debug, info, warn or error"),
	}
}

// Logger returns the logger the flags ask for (NewLogger).
func (l LogFlags) Logger(w io.Writer, service string) (*slog.Logger, error) {
	return NewLogger(w, service, *l.Format, *l.Level)
}

// RedisPingTimeout bounds the PING a long-running command sends Redis before it starts.
const RedisPingTimeout = 10 * time.Second

// OpenRedis opens Redis for a long-running command and checks that it answers
// (redisconn.Connect). On error it says so on stderr, prefixed with program, and returns the
// exit code: 2 for a bad --redis-url, 3 when Redis does not answer.
func OpenRedis(ctx context.Context, program string, cfg redisconn.Config, stderr io.Writer) (redis.UniversalClient, int) {
	rdb, err := redisconn.Connect(ctx, cfg, RedisPingTimeout)
	switch {
	case errors.Is(err, redisconn.ErrUnreachable):
		fmt.Fprintf(stderr, "%s: %v\n", program, err)
		return nil, 3
	case err != nil:
		fmt.Fprintln(stderr, program+": --redis-url (PARTFLOW_REDIS_URL):", err)
		return nil, 2
	}
	return rdb, 0
}
