package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/hibiken/asynq"
)

// Actions changes uploads and migrations on an operator's request. id is an upload or a
// migration ID, as `enqueuer resume|cancel ID` takes it.
type Actions interface {
	// Resume re-enqueues what is missing of a failed upload (or of every failed upload of a migration).
	Resume(ctx context.Context, id string) error
	// Cancel aborts the upload (or every live upload of a migration) and marks it cancelled.
	Cancel(ctx context.Context, id string) error
}

// Config configures a Monitor.
type Config struct {
	// Redis opens connections to the Redis that holds partflow's records and asynq's queues.
	// The monitor opens one client for its own reads and event stream; asynqmon opens its own.
	// Monitor.Close closes them all. Required.
	Redis asynq.RedisConnOpt

	// Token is the secret every request must carry, as "Authorization: Bearer TOKEN" or as
	// the password of HTTP basic auth. Required unless NoAuth.
	Token string
	// NoAuth serves everything without authentication. For local use only.
	NoAuth bool

	// ReadOnly refuses every request that is not GET or HEAD and hides the actions, in
	// partflow's view and in asynqmon.
	ReadOnly bool

	// Actions resumes and cancels uploads; nil hides these actions.
	Actions Actions

	// TrustedOrigins are origins (like "https://ops.example.com") whose pages may send
	// state-changing requests besides the monitor's own origin, for example when a reverse
	// proxy rewrites the Host header.
	TrustedOrigins []string

	// PrometheusURL is a Prometheus server (http://host:port) that asynqmon's metrics tab
	// queries; empty hides the tab.
	PrometheusURL string

	// TraceURLTemplate is the address of a trace in a tracing UI, with {trace_id} where the
	// trace ID goes (https://jaeger.example.com/trace/{trace_id}); an upload whose enqueue was
	// traced links to its trace. Empty: no links.
	TraceURLTemplate string

	// Logger receives request errors and event-stream problems. Default slog.Default().
	Logger *slog.Logger
}

// minTokenLength keeps a trivially guessable token out.
const minTokenLength = 16

func (c *Config) validate() error {
	if c.Redis == nil {
		return errors.New("monitor: Config.Redis is required")
	}
	switch {
	case c.NoAuth && c.Token != "":
		return errors.New("monitor: Config.Token and Config.NoAuth exclude each other")
	case !c.NoAuth && c.Token == "":
		return errors.New("monitor: Config.Token is required (or set NoAuth for local use)")
	case !c.NoAuth && len(c.Token) < minTokenLength:
		return fmt.Errorf("monitor: Config.Token must be at least %d characters, got %d", minTokenLength, len(c.Token))
	case strings.TrimSpace(c.Token) != c.Token:
		return errors.New("monitor: Config.Token must not start or end with white space")
	}
	for _, o := range c.TrustedOrigins {
		if !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			return fmt.Errorf("monitor: Config.TrustedOrigins: %q is not an http(s) origin", o)
		}
	}
	if err := CheckTraceURLTemplate(c.TraceURLTemplate); err != nil {
		return fmt.Errorf("monitor: Config.TraceURLTemplate: %w", err)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}
