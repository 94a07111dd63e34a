// Package redisconn opens the Redis connection every partflow program shares between its
// state store and asynq, from the URL forms of the design: redis://, rediss://,
// redis-sentinel:// and, for a cluster, a comma list of redis:// seeds.
package redisconn

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config names a Redis deployment.
type Config struct {
	// URL is redis://[user:pass@]host:port[/db], rediss://… (TLS),
	// redis-sentinel://[:pass@]host:port[,host:port…]/master[?db=N], or with Cluster a comma
	// list of redis:// seed URLs.
	URL     string
	Cluster bool
}

func (c Config) validate() error {
	if c.URL == "" {
		return fmt.Errorf("redisconn: a Redis URL is required (--redis-url or PARTFLOW_REDIS_URL)")
	}
	return nil
}

// Open returns a client for cfg. It does not dial; the first command does. The first call
// routes go-redis's own log lines to slog at debug level (see debugLogger).
func Open(cfg Config) (redis.UniversalClient, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	quietGoRedis()
	if cfg.Cluster {
		return openCluster(cfg.URL)
	}
	if strings.HasPrefix(cfg.URL, "redis-sentinel://") {
		return openSentinel(cfg.URL)
	}
	opt, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("redisconn: parse %s: %w", redact(cfg.URL), err)
	}
	return redis.NewClient(opt), nil
}

func openCluster(list string) (redis.UniversalClient, error) {
	var opt redis.ClusterOptions
	for _, seed := range strings.Split(list, ",") {
		o, err := redis.ParseURL(strings.TrimSpace(seed))
		if err != nil {
			return nil, fmt.Errorf("redisconn: parse cluster seed %s: %w", redact(seed), err)
		}
		opt.Addrs = append(opt.Addrs, o.Addr)
		opt.Username, opt.Password, opt.TLSConfig = o.Username, o.Password, o.TLSConfig
	}
	return redis.NewClusterClient(&opt), nil
}

func openSentinel(raw string) (redis.UniversalClient, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("redisconn: parse %s: %w", redact(raw), err)
	}
	master := strings.Trim(u.Path, "/")
	if master == "" {
		return nil, fmt.Errorf("redisconn: %s: the sentinel URL needs the master name as its path", redact(raw))
	}
	opt := &redis.FailoverOptions{MasterName: master, SentinelAddrs: strings.Split(u.Host, ",")}
	if u.User != nil {
		opt.Password, _ = u.User.Password()
		opt.SentinelPassword = opt.Password
	}
	if db := u.Query().Get("db"); db != "" {
		if opt.DB, err = strconv.Atoi(db); err != nil {
			return nil, fmt.Errorf("redisconn: %s: bad db %q", redact(raw), db)
		}
	}
	return redis.NewFailoverClient(opt), nil
}

// redact hides a URL's password so it can go into an error or a log line.
func redact(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// ErrUnreachable is wrapped by Connect's error when Redis did not answer; its message reads
// "cannot reach Redis: …".
var ErrUnreachable = errors.New("cannot reach Redis")

// Connect opens Redis for cfg and checks that it answers a PING, within timeout if it is not
// zero. An error that does not wrap ErrUnreachable is a bad configuration (the URL).
func Connect(ctx context.Context, cfg Config, timeout time.Duration) (redis.UniversalClient, error) {
	rdb, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	return rdb, nil
}
