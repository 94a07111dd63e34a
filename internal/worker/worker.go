// Package worker runs partflow's task handlers on an asynq server: the wiring shared by
// cmd/worker and the tests, so both run the same thing.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/partflow/partflow/internal/liveness"
	"github.com/partflow/partflow/internal/metrics"
	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/tracing"
	"github.com/partflow/partflow/storage"
	"github.com/partflow/partflow/tasks"
)

// Config configures a Worker.
type Config struct {
	Redis   redis.UniversalClient
	S3      storage.Multipart
	Sources source.Reader
	// Copier copies s3:// sources server-side (tasks.Config.Copier); nil: no copies.
	Copier storage.Copier
	Logger *slog.Logger // default slog.Default()

	// Concurrency is how many tasks run at once. Default 8.
	Concurrency int
	// MemoryBudget bounds the bytes of part and PUT buffers the worker holds at once; a task
	// waits for its part's share. It is also the largest part the fleet accepts: an upload
	// planned with bigger parts fails at plan time, so every worker must use the same value.
	// Default DefaultMemoryBudget(Concurrency).
	MemoryBudget int64
	// ShutdownTimeout is how long in-flight tasks may run after a shutdown starts; tasks still
	// running then are handed back to the queue. Default 30s.
	ShutdownTimeout time.Duration
	// Retention of terminal records. Default 7 days.
	Retention time.Duration
	// RetryDelay overrides tasks.RetryDelay (tests shorten it).
	RetryDelay asynq.RetryDelayFunc
	// PollInterval is how often scheduled and retry tasks are moved to pending. Default 1s.
	PollInterval time.Duration
	// IdlePollInterval is how long an idle worker waits before looking for new tasks again
	// (asynq's TaskCheckInterval, 1s by default there). A part's latency from enqueue to start
	// is up to this long, so it is short: default 50ms, one cheap Redis call per interval.
	IdlePollInterval time.Duration
	// Queues are the queue weights; default tasks.Queues().
	Queues map[string]int
	// PartRetries, PartTimeout and FleetBandwidth: see tasks.Config.
	PartRetries    int
	PartTimeout    time.Duration
	FleetBandwidth int64
	// JanitorInterval is how often the fleet runs maintenance:janitor (once per interval,
	// whatever the number of workers). Default 10m; negative disables the schedule.
	JanitorInterval time.Duration
	Janitor         tasks.JanitorConfig
	// Feed configures the migration feeders the worker runs (tasks.FeedConfig).
	Feed tasks.FeedConfig
	// Metrics, if set, receives the workers' series (see internal/metrics).
	Metrics *metrics.Metrics
	// HeartbeatInterval is how often the worker tells the fleet which tasks it runs, so that
	// the tasks of a worker that died run again within seconds (internal/liveness); default 1s.
	HeartbeatInterval time.Duration
	// Tracing, if set, continues the trace each task's headers carry (tracing.Middleware);
	// nil is tracing off.
	Tracing *tracing.Provider
	// NoRescue keeps this worker from rescuing dead workers' tasks (it still heartbeats, so
	// its own tasks are rescued by the others if it dies). With NoRescue on every worker, a
	// dead worker's tasks wait for asynq's own recovery (60-120 s).
	NoRescue bool
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
	case c.MemoryBudget < 0 || c.MemoryBudget > 0 && c.MemoryBudget < storage.MinPartSize:
		return fmt.Errorf("worker: Config.MemoryBudget must be at least %d bytes (S3's smallest part), got %d",
			storage.MinPartSize, c.MemoryBudget)
	case c.ShutdownTimeout < 0:
		return fmt.Errorf("worker: Config.ShutdownTimeout must not be negative, got %v", c.ShutdownTimeout)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Concurrency == 0 {
		c.Concurrency = 8
	}
	if c.MemoryBudget == 0 {
		c.MemoryBudget, _ = DefaultMemoryBudget(c.Concurrency)
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
	if c.IdlePollInterval == 0 {
		c.IdlePollInterval = 50 * time.Millisecond
	}
	if c.Queues == nil {
		c.Queues = tasks.Queues()
	}
	if _, ok := c.Queues[tasks.QueueFeed]; !ok {
		// Feeders are few and short of work: served at the weight of the busiest queue.
		qs := maps.Clone(c.Queues)
		qs[tasks.QueueFeed] = max(slices.Max(slices.Collect(maps.Values(c.Queues))), 1)
		c.Queues = qs
	}
	for q, w := range c.Queues {
		if w <= 0 {
			return fmt.Errorf("worker: queue %q has weight %d; weights must be positive", q, w)
		}
	}
	if c.JanitorInterval == 0 {
		c.JanitorInterval = 10 * time.Minute
	}
	return nil
}

// Worker is an asynq server running partflow's handlers, and the scheduler that enqueues
// the janitor.
type Worker struct {
	srv       *asynq.Server
	mux       *asynq.ServeMux
	scheduler *asynq.Scheduler // nil when the janitor is not scheduled
	budget    *tasks.MemoryBudget
	liveness  *liveness.Tracker

	stopLiveness context.CancelFunc
	livenessDone chan struct{}
}

// rescuable are the task types whose orphans are rerun at once (the janitor is periodic and
// runs again by itself).
var rescuable = []string{tasks.TypeStart, tasks.TypeBatch, tasks.TypePart, tasks.TypeFinalize, tasks.TypeAbort, tasks.TypeFeed}

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
	budget := tasks.NewMemoryBudget(cfg.MemoryBudget)
	handlers, err := tasks.NewHandlers(tasks.Config{Store: store, S3: cfg.S3, Sources: cfg.Sources, Queue: queue,
		Logger: cfg.Logger, Metrics: cfg.Metrics, PartRetries: cfg.PartRetries, PartTimeout: cfg.PartTimeout,
		Janitor: cfg.Janitor, Tasks: asynq.NewInspectorFromRedisClient(cfg.Redis), MemoryBudget: budget,
		Copier: cfg.Copier, FleetBandwidth: cfg.FleetBandwidth, Feed: cfg.Feed, BatchPuts: cfg.Concurrency})
	if err != nil {
		return nil, err
	}
	mux := asynq.NewServeMux()
	tracker, err := liveness.New(liveness.Config{Redis: cfg.Redis, Queue: queue,
		Active: asynq.NewInspectorFromRedisClient(cfg.Redis), Queues: slices.Sorted(maps.Keys(cfg.Queues)),
		Types: rescuable, Instance: instanceID(), Logger: cfg.Logger.With("component", "liveness"),
		Interval: cfg.HeartbeatInterval, Passive: cfg.NoRescue, OnRescue: cfg.Metrics.TaskRescued})
	if err != nil {
		return nil, err
	}
	mux.Use(cfg.Tracing.Middleware, tracker.Middleware) // the task's span covers all of it
	handlers.Register(mux)
	srv := asynq.NewServerFromRedisClient(cfg.Redis, asynq.Config{
		Concurrency:              cfg.Concurrency,
		Queues:                   cfg.Queues,
		RetryDelayFunc:           cfg.RetryDelay,
		ShutdownTimeout:          cfg.ShutdownTimeout,
		DelayedTaskCheckInterval: cfg.PollInterval,
		TaskCheckInterval:        cfg.IdlePollInterval,
		Logger:                   asynqLogger{cfg.Logger.With("component", "asynq")},
		LogLevel:                 asynq.WarnLevel,
		// Failures are recorded on the upload and logged by the handlers.
		ErrorHandler: asynq.ErrorHandlerFunc(func(context.Context, *asynq.Task, error) {}),
	})
	w := &Worker{srv: srv, mux: mux, budget: budget, liveness: tracker}
	if cfg.JanitorInterval > 0 {
		w.scheduler = asynq.NewSchedulerFromRedisClient(cfg.Redis, &asynq.SchedulerOpts{
			Logger: asynqLogger{cfg.Logger.With("component", "scheduler")}, LogLevel: asynq.WarnLevel})
		// Unique for one interval: however many workers schedule it, it runs once per interval.
		_, err := w.scheduler.Register("@every "+cfg.JanitorInterval.String(), tasks.NewJanitorTask(),
			asynq.Unique(cfg.JanitorInterval))
		if err != nil {
			return nil, fmt.Errorf("worker: schedule janitor: %w", err)
		}
	}
	return w, nil
}

// Budget is the worker's memory budget (its size, the bytes held now and at most).
func (w *Worker) Budget() *tasks.MemoryBudget { return w.budget }

// Start starts processing tasks (and scheduling the janitor) in the background.
func (w *Worker) Start() error {
	if err := w.srv.Start(w.mux); err != nil {
		return err
	}
	if w.scheduler != nil {
		if err := w.scheduler.Start(); err != nil {
			w.srv.Shutdown()
			return fmt.Errorf("worker: start scheduler: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.stopLiveness, w.livenessDone = cancel, make(chan struct{})
	go func() {
		defer close(w.livenessDone)
		w.liveness.Run(ctx)
	}()
	return nil
}

// Shutdown stops fetching tasks, waits up to the shutdown timeout for running ones and hands
// the rest back to the queue.
func (w *Worker) Shutdown() {
	if w.scheduler != nil {
		w.scheduler.Shutdown()
	}
	w.srv.Shutdown()
	// Heartbeats go on until the server has handed its unfinished tasks back, so none of
	// them is taken for an orphan meanwhile.
	if w.stopLiveness != nil { // nil when Start was never called
		w.stopLiveness()
		<-w.livenessDone
	}
}

// instanceID names this process for the liveness heartbeat: host, PID and a random suffix
// (a restarted container may reuse the PID).
func instanceID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d:%08x", host, os.Getpid(), rand.Uint32())
}

// Run processes tasks until ctx ends (the caller maps SIGTERM to that), then shuts down
// gracefully.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	w.srv.Stop() // stop fetching new tasks at once
	w.Shutdown()
	return nil
}

// asynqLogger adapts slog to asynq.Logger.
type asynqLogger struct{ log *slog.Logger }

func (l asynqLogger) Debug(args ...any) { l.log.Debug(fmt.Sprint(args...)) }
func (l asynqLogger) Info(args ...any)  { l.log.Info(fmt.Sprint(args...)) }
func (l asynqLogger) Warn(args ...any)  { l.log.Warn(fmt.Sprint(args...)) }
func (l asynqLogger) Error(args ...any) { l.log.Error(fmt.Sprint(args...)) }
func (l asynqLogger) Fatal(args ...any) { l.log.Error(fmt.Sprint(args...)); os.Exit(1) } // as asynq.Logger requires
