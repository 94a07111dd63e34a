package tasks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/partflow/partflow/internal/feed"
	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/state"
)

// TypeFeed is a migration's feeder: it creates the migration's uploads from its listing, at
// most the feed's window of them unfinished at a time.
const TypeFeed = "migration:feed"

// FeedRetries is the feeder's retry budget (a Redis or volume outage of about an hour and a
// half at RetryDelay's one-minute cap); a kill is rescued at once (internal/liveness).
const FeedRetries = 100

// FeedBatch is the most uploads one feed step creates (one script, then their start tasks).
const FeedBatch = 500

// FeedPayload is the payload of migration:feed: the migration and the run's number.
type FeedPayload struct {
	Migration string `json:"migration"`
	Run       int64  `json:"run"`
}

// FeedTaskID is the task ID of run n of a migration's feeder: "<migration>:feed:<n>".
func FeedTaskID(migrationID string, run int64) string {
	return migrationID + ":feed:" + strconv.FormatInt(run, 10)
}

// NewFeedTask returns run n of a migration's feeder, to run after delay.
func NewFeedTask(migrationID string, run int64, delay time.Duration) *asynq.Task {
	return asynq.NewTask(TypeFeed, mustJSON(FeedPayload{Migration: migrationID, Run: run}),
		asynq.TaskID(FeedTaskID(migrationID, run)), asynq.Queue(QueueFeed), asynq.MaxRetry(FeedRetries),
		asynq.ProcessIn(delay), asynq.Timeout(10*time.Minute))
}

// FeedConfig configures the feeders a worker runs.
type FeedConfig struct {
	// Listings opens a feed's listing; nil: this worker cannot feed (its feed tasks retry
	// until a worker that can runs them).
	Listings feed.Opener
	// Interval is how often a run that waits (a full window, Redis above its memory
	// bound) looks again; default 1s.
	Interval time.Duration
	// RunFor bounds how long one run feeds (and waits) before it hands over to the next run;
	// default 30s.
	RunFor time.Duration
	// MaxMemoryFraction holds feeders back while Redis's used_memory is above this share of
	// maxmemory (default 0.8); MaxMemoryBytes, when set, is the bound instead (for a Redis
	// without maxmemory). With neither bound (maxmemory 0, no bytes), memory is not checked.
	MaxMemoryFraction float64
	MaxMemoryBytes    int64
}

func (c *FeedConfig) validate() error {
	switch {
	case c.Interval < 0 || c.RunFor < 0 || c.MaxMemoryBytes < 0:
		return errors.New("tasks: FeedConfig durations and MaxMemoryBytes must not be negative")
	case c.MaxMemoryFraction < 0 || c.MaxMemoryFraction > 1:
		return fmt.Errorf("tasks: FeedConfig.MaxMemoryFraction %v: want 0 to 1", c.MaxMemoryFraction)
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.RunFor == 0 {
		c.RunFor = 30 * time.Second
	}
	if c.MaxMemoryFraction == 0 {
		c.MaxMemoryFraction = 0.8
	}
	return nil
}

// HandleFeedTask runs a migration's feeder once. A run claims the feed (a later run having
// started makes it stale: it stops), enqueues the start tasks of the last batch if a killed
// run left them, then for FeedConfig.RunFor: whenever the window has room and Redis is under
// its memory bound, creates a batch of uploads in one script that also moves the checkpoint,
// and enqueues their start tasks; otherwise it looks again every FeedConfig.Interval. It
// ends by enqueuing the next run (in the feed queue, so it starts at once), unless the
// listing ended (the last batch sealed the migration) or the migration was cancelled. Every step is safe to run
// twice: the batch script moves the checkpoint only from the position this run read, and
// task IDs are deterministic.
func (h *Handlers) HandleFeedTask(ctx context.Context, t *asynq.Task) error {
	p, err := decode[FeedPayload](h, t)
	if err != nil {
		return err
	}
	log := h.log.With("migration_id", p.Migration, "run", p.Run)
	f, err := h.store.ClaimFeed(ctx, p.Migration, p.Run)
	switch {
	case errors.Is(err, state.ErrStale):
		log.Info("FeedRunStale")
		return nil
	case errors.Is(err, state.ErrNotFound):
		log.Warn("FeedUnknown")
		return nil
	case err != nil:
		return err
	}
	if f.Stopped {
		log.Info("FeedStopped")
		return nil
	}
	if err := h.enqueueFed(ctx, p.Migration); err != nil {
		return err
	}
	if f.Done {
		log.Info("FeedFinished")
		return nil
	}
	if h.feed.Listings == nil {
		return fmt.Errorf("tasks: feed %s: this worker can open no listing (no --volume-root, no --source-s3-endpoint)", p.Migration)
	}
	listing, err := h.feed.Listings.Open(ctx, f.Spec)
	if err != nil {
		return fmt.Errorf("tasks: feed %s: %w", p.Migration, err)
	}
	defer listing.Close()

	run := feedRun{p: p, f: f, listing: listing, log: log}
	for deadline := time.Now().Add(h.feed.RunFor); time.Now().Before(deadline); {
		if stop, err := h.feedStep(ctx, &run); stop || err != nil {
			return err
		}
	}
	_, err = h.queue.EnqueueContext(ctx, NewFeedTask(p.Migration, p.Run+1, 0))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("tasks: feed %s: enqueue the next run: %w", p.Migration, err)
	}
	return nil
}

// feedRun is one feeder run's state: its task, the feed as last claimed, its listing.
type feedRun struct {
	p       FeedPayload
	f       state.Feed
	listing feed.Listing
	log     *slog.Logger
}

// feedStep waits once if the feed is held back (Redis memory, a paused migration, a full
// window), or else creates one batch of uploads. It reports stop when the run is over: the
// listing ended, a later run took over, or the migration stopped.
func (h *Handlers) feedStep(ctx context.Context, r *feedRun) (stop bool, err error) {
	held, err := h.feedHeld(ctx, r)
	if err != nil {
		return true, err
	}
	if held {
		if r.f, err = h.waitToFeed(ctx, r.p, r.f); err != nil || r.f.Stopped {
			return true, err
		}
		return false, nil
	}
	return h.feedOnce(ctx, r)
}

// feedHeld reports whether the feed must wait: Redis above its memory bound (said on the
// feed, for the monitor and status), a paused migration (migrate --max-failures, a
// destination-wide error, enqueuer pause) or a full window.
func (h *Handlers) feedHeld(ctx context.Context, r *feedRun) (bool, error) {
	reason, err := h.feedHeldBack(ctx)
	if err != nil {
		return false, err
	}
	if reason != r.f.Paused {
		if err := h.store.SetFeedPaused(ctx, r.p.Migration, reason); err != nil {
			return false, err
		}
		if reason != "" {
			r.log.Warn("FeedPaused", "reason", reason)
		} else {
			r.log.Info("FeedResumed")
		}
		r.f.Paused = reason
	}
	if reason != "" {
		h.metrics.FeedWaited()
		return true, nil
	}
	pause, err := h.store.MigrationPaused(ctx, r.p.Migration)
	if err != nil {
		return false, err
	}
	return pause.Paused || int64(r.f.Spec.Window)-r.f.Live <= 0, nil
}

// feedOnce lists the next items after the checkpoint, at most the window's free room, and
// creates their uploads with the new checkpoint in one script, then enqueues their tasks.
func (h *Handlers) feedOnce(ctx context.Context, r *feedRun) (stop bool, err error) {
	p, f := r.p, &r.f
	free := int64(f.Spec.Window) - f.Live
	items, next, end, err := r.listing.List(ctx, f.Position, int(min(free, FeedBatch)))
	if err != nil && source.Permanent(err) {
		// A listing refused or gone (an S3 prefix's bucket missing, access denied) fails
		// every try alike: pause the migration, saying why; resume lists again.
		reason := fmt.Sprintf("listing the migration's source failed: %v (fix it, then resume %s)", err, p.Migration)
		if _, err := h.store.PauseMigration(context.WithoutCancel(ctx), p.Migration, reason); err != nil {
			return true, err
		}
		r.log.Error("FeedListingFailed", "error", err.Error())
		return false, nil // the pause holds the feeder until the migration is resumed
	}
	if err != nil {
		return true, fmt.Errorf("tasks: feed %s: %w", p.Migration, err)
	}
	batch := make([]state.NewUpload, len(items))
	for i, it := range items {
		batch[i] = state.NewUpload{ID: state.DeriveUploadID(p.Migration, it.Bucket, it.Key, it.Fingerprint),
			Source: it.Source, Bucket: it.Bucket, Key: it.Key, ContentType: it.ContentType, Metadata: it.Metadata,
			Options: it.Options, PartSize: f.Spec.PartSize, SkipExisting: f.Spec.SkipExisting}
	}
	created, err := h.store.FeedBatchOfRun(ctx, p.Migration, p.Run, f.Seq, next, end, batch)
	if errors.Is(err, state.ErrStale) {
		r.log.Info("FeedRunStale")
		return true, nil
	}
	if err != nil {
		return true, err
	}
	h.metrics.FeedFed(created)
	f.Seq, f.Position, f.Live = f.Seq+1, next, f.Live+int64(len(batch))
	r.log.Debug("FeedBatchCreated", "uploads", created, "position", next)
	if err := h.enqueueFed(ctx, p.Migration); err != nil {
		return true, err
	}
	if end {
		r.log.Info("FeedFinished", "batches", f.Seq)
		return true, nil
	}
	// Learn how many finished meanwhile (and whether the migration was cancelled).
	if r.f, err = h.reclaim(ctx, p, r.f); err != nil || r.f.Stopped {
		return true, err
	}
	return false, nil
}

// waitToFeed waits FeedConfig.Interval, then reads the feed again (see reclaim).
func (h *Handlers) waitToFeed(ctx context.Context, p FeedPayload, f state.Feed) (state.Feed, error) {
	select {
	case <-ctx.Done():
		return f, ctx.Err()
	case <-time.After(h.feed.Interval):
	}
	return h.reclaim(ctx, p, f)
}

// reclaim reads the feed again within one run (ErrStale ends the run without error).
func (h *Handlers) reclaim(ctx context.Context, p FeedPayload, was state.Feed) (state.Feed, error) {
	f, err := h.store.ClaimFeed(ctx, p.Migration, p.Run)
	if errors.Is(err, state.ErrStale) {
		return state.Feed{Stopped: true}, nil
	}
	if err == nil && f.Seq != was.Seq {
		return state.Feed{Stopped: true}, nil // another copy of this run moved on
	}
	return f, err
}

// enqueueFed enqueues the start tasks of the uploads the feeder created and has not
// enqueued yet, then forgets them.
func (h *Handlers) enqueueFed(ctx context.Context, migrationID string) error {
	ids, err := h.store.FeedPending(ctx, migrationID)
	if err != nil || len(ids) == 0 {
		return err
	}
	for _, id := range ids {
		_, err := h.queue.EnqueueContext(ctx, NewStartTask(ctx, id))
		if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			return fmt.Errorf("tasks: feed %s: enqueue start of %s: %w", migrationID, id, err)
		}
	}
	return h.store.FeedForget(ctx, migrationID, ids)
}

// feedHeldBack says why feeders must wait ("" when they need not): Redis's used_memory is
// above the feed limit (FeedConfig.MaxMemoryBytes, else MaxMemoryFraction of maxmemory).
func (h *Handlers) feedHeldBack(ctx context.Context) (string, error) {
	m, err := h.store.RedisMemory(ctx)
	if err != nil {
		return "", err
	}
	limit := h.feed.MaxMemoryBytes
	if limit == 0 && m.Max > 0 {
		limit = int64(h.feed.MaxMemoryFraction * float64(m.Max))
	}
	if limit == 0 || m.Used <= limit {
		return "", nil
	}
	return fmt.Sprintf("Redis used_memory %d B is above the feed limit %d B", m.Used, limit), nil
}
