// Package worker runs partflow's task handlers on an asynq server: the wiring shared by
// cmd/worker and the tests, so both run the same thing.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/storage"
	"github.com/partflow/partflow/tasks"
)

// Config configures a Worker.
type Config struct {
	Redis   redis.UniversalClient
	S3      storage.Multipart
	Sources source.Reader
	Logger  *slog.Logger // default slog.Default()

	// Concurrency is how many tasks run at once; memory is about Concurrency × part size.
	// Default 8.
	Concurrency int
	// ShutdownTimeout is how long in-flight tasks may run after a shutdown starts; tasks still
	// running then are handed back to the queue. Default 30s.
	ShutdownTimeout time.Duration
	// Retention of terminal records. Default 7 days.
	Retention time.Duration
	// RetryDelay overrides tasks.RetryDelay (tests shorten it).
	RetryDelay asynq.RetryDelayFunc
	// PollInterval is how often scheduled and retry tasks are moved to pending. Default 1s.
	PollInterval time.Duration
}

func (c *Config) validate() error {
	switch {
	case c.Redis == nil:
		return errors.New("worker: Config.Redis is required")
	case c.S3 == nil:
		return errors.New("worker: Config.S3 is required")
	case c.Sources == nil:
		return errors.New("worker: Config.Sources is required")
	case c.Concurrency < 0:
		return fmt.Errorf("worker: Config.Concurrency must be positive, got %d", c.Concurrency)
	case c.ShutdownTimeout < 0:
		return fmt.Errorf("worker: Config.ShutdownTimeout must not be negative, got %v", c.ShutdownTimeout)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Concurrency == 0 {
		c.Concurrency = 8
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.RetryDelay == nil {
		c.RetryDelay = tasks.RetryDelay
	}
	if c.PollInterval == 0 {
		c.PollInterval = time.Second
	}
	return nil
}

// Worker is an asynq server running partflow's handlers.
type Worker struct {
	srv *asynq.Server
	mux *asynq.ServeMux
}

// New builds a worker; Start or Run it.
func New(cfg Config) (*Worker, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	store, err := state.New(cfg.Redis, state.Config{Retention: cfg.Retention})
	if err != nil {
		return nil, err
	}
	queue := asynq.NewClientFromRedisClient(cfg.Redis)
	handlers, err := tasks.NewHandlers(tasks.Config{Store: store, S3: cfg.S3, Sources: cfg.Sources, Queue: queue,
		Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	mux := asynq.NewServeMux()
	handlers.Register(mux)
	srv := asynq.NewServerFromRedisClient(cfg.Redis, asynq.Config{
		Concurrency:              cfg.Concurrency,
		Queues:                   tasks.Queues(),
		RetryDelayFunc:           cfg.RetryDelay,
		ShutdownTimeout:          cfg.ShutdownTimeout,
		DelayedTaskCheckInterval: cfg.PollInterval,
		TaskCheckInterval:        cfg.PollInterval,
		Logger:                   asynqLogger{cfg.Logger.With("component", "asynq")},
		LogLevel:                 asynq.WarnLevel,
		// Failures are recorded on the upload and logged by the handlers.
		ErrorHandler: asynq.ErrorHandlerFunc(func(context.Context, *asynq.Task, error) {}),
	})
	return &Worker{srv: srv, mux: mux}, nil
}

// Start starts processing tasks in the background.
func (w *Worker) Start() error { return w.srv.Start(w.mux) }

// Shutdown stops fetching tasks, waits up to the shutdown timeout for running ones and hands
// the rest back to the queue.
func (w *Worker) Shutdown() { w.srv.Shutdown() }

// Run processes tasks until SIGTERM or SIGINT, then shuts down gracefully.
func (w *Worker) Run() error { return w.srv.Run(w.mux) }

// asynqLogger adapts slog to asynq.Logger.
type asynqLogger struct{ log *slog.Logger }

func (l asynqLogger) Debug(args ...any) { l.log.Debug(fmt.Sprint(args...)) }
func (l asynqLogger) Info(args ...any)  { l.log.Info(fmt.Sprint(args...)) }
func (l asynqLogger) Warn(args ...any)  { l.log.Warn(fmt.Sprint(args...)) }
func (l asynqLogger) Error(args ...any) { l.log.Error(fmt.Sprint(args...)) }
func (l asynqLogger) Fatal(args ...any) { l.log.Error(fmt.Sprint(args...)); os.Exit(1) } // as asynq.Logger requires
