package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/partflow/partflow/internal/metrics"
	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/storage"
)

// Enqueuer enqueues tasks; *asynq.Client is one.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

var _ Enqueuer = (*asynq.Client)(nil)

// Config wires the handlers to their dependencies.
type Config struct {
	Store   *state.Store
	S3      storage.Multipart
	Sources source.Reader
	Queue   Enqueuer
	Logger  *slog.Logger     // default slog.Default()
	Metrics *metrics.Metrics // optional

	// PartRetries is the retry budget of the part tasks this worker enqueues. asynq counts
	// the recovery of a task whose worker died as a retry. Default PartRetries (25).
	PartRetries int
	// PartTimeout bounds one attempt at a part; 0 means five minutes plus a second per MiB.
	PartTimeout time.Duration
	Janitor     JanitorConfig
	// MemoryBudget bounds the part and PUT buffers held at once and is the largest part an
	// upload planned here may have; nil means no bound (tests).
	MemoryBudget *MemoryBudget
	// Tasks lets the janitor see whether an old upload still has tasks queued (a backlog)
	// rather than none (a stall); optional but set by the worker.
	Tasks TaskLookup
	// Copier, when set, copies s3:// sources server-side on the destination (UploadPartCopy,
	// CopyObject) instead of reading them through the worker: set it only when the source
	// store is the destination's store, reachable with the destination's credentials.
	Copier storage.Copier
	// FleetBandwidth caps the bytes per second the whole fleet sends in part and object
	// bodies, shared through Redis (every worker must be given the same value); 0: no cap.
	FleetBandwidth int64
	// NoInlineFinalize makes the part that completes an upload's set always enqueue
	// upload:finalize instead of finalizing in its own task (see finalizeInline).
	NoInlineFinalize bool
	// Feed configures the migration feeders this worker runs.
	Feed FeedConfig
	// BatchPuts is the most PutObjects the worker's upload:batch tasks run at once, all of
	// them together (a batch's uploads go concurrently, not one after the other); the worker
	// gives its task concurrency. Default 8.
	BatchPuts int
}

func (c *Config) validate() error {
	switch {
	case c.Store == nil:
		return errors.New("tasks: Config.Store is required")
	case c.S3 == nil:
		return errors.New("tasks: Config.S3 is required")
	case c.Sources == nil:
		return errors.New("tasks: Config.Sources is required")
	case c.Queue == nil:
		return errors.New("tasks: Config.Queue is required")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.PartRetries < 0 || c.PartTimeout < 0 || c.FleetBandwidth < 0 || c.BatchPuts < 0 {
		return errors.New("tasks: Config.PartRetries, Config.PartTimeout, Config.FleetBandwidth and Config.BatchPuts must not be negative")
	}
	if c.BatchPuts == 0 {
		c.BatchPuts = 8
	}
	if c.PartRetries == 0 {
		c.PartRetries = PartRetries
	}
	if err := c.Feed.validate(); err != nil {
		return err
	}
	return c.Janitor.validate()
}

// Handlers runs partflow's tasks.
type Handlers struct {
	store   *state.Store
	s3      storage.Multipart
	sources source.Reader
	queue   Enqueuer
	log     *slog.Logger
	metrics *metrics.Metrics
	janitor JanitorConfig
	feed    FeedConfig

	partRetries int
	partTimeout time.Duration
	tasks       TaskLookup
	budget      *MemoryBudget
	copier      storage.Copier // nil: no server-side copies
	// completeTimeout replaces CompleteTimeout(size) when set (tests).
	completeTimeout time.Duration
	fleet           *state.Bandwidth // nil: no fleet-wide cap
	bwMu            sync.Mutex
	bw              map[string]*state.Bandwidth // migration ID -> its cap (sendLimits)
	// inlineFinalize: the part that completes the set finalizes the upload in its own task.
	inlineFinalize bool
	// batchPuts holds a token per PutObject of an upload:batch task in flight (Config.BatchPuts).
	batchPuts chan struct{}
}

// NewHandlers returns the task handlers for cfg.
func NewHandlers(cfg Config) (*Handlers, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	h := &Handlers{store: cfg.Store, s3: cfg.S3, sources: cfg.Sources, queue: cfg.Queue, log: cfg.Logger,
		metrics: cfg.Metrics, janitor: cfg.Janitor, partRetries: cfg.PartRetries, partTimeout: cfg.PartTimeout,
		tasks: cfg.Tasks, budget: cfg.MemoryBudget, copier: cfg.Copier, bw: make(map[string]*state.Bandwidth),
		inlineFinalize: !cfg.NoInlineFinalize, feed: cfg.Feed, batchPuts: make(chan struct{}, cfg.BatchPuts)}
	if cfg.FleetBandwidth > 0 {
		h.fleet = cfg.Store.FleetBandwidth(cfg.FleetBandwidth)
	}
	return h, nil
}

// Register routes partflow's task types on mux.
func (h *Handlers) Register(mux *asynq.ServeMux) {
	mux.HandleFunc(TypeStart, h.HandleStartTask)
	mux.HandleFunc(TypePart, h.HandlePartTask)
	mux.HandleFunc(TypeFinalize, h.HandleFinalizeTask)
	mux.HandleFunc(TypeBatch, h.HandleBatchTask)
	mux.HandleFunc(TypeAbort, h.HandleAbortTask)
	mux.HandleFunc(TypeJanitor, h.HandleJanitorTask)
	mux.HandleFunc(TypeReport, h.HandleReportTask)
	mux.HandleFunc(TypeFeed, h.HandleFeedTask)
}

// job is one task run for one upload: the upload record as read at the start of the run and a
// logger carrying its attributes.
type job struct {
	u    state.Upload
	log  *slog.Logger
	task string // the task type being run
	// claimed is the version a finalizer's claim returned while this run holds it (0 when it
	// holds none): its failure moves the upload with that version, the only one that may
	// change an upload under a live claim.
	claimed int64
	// bandwidth is the migration's fleet-wide cap in bytes per second (0: none), as held read it.
	bandwidth int64
}

func (j job) object() storage.Object { return storage.Object{Bucket: j.u.Bucket, Key: j.u.Key} }

// load decodes an upload ID and reads its record. A garbage payload or an unknown upload is a
// permanent error: there is nothing to retry and, without a record, nothing to mark failed.
func (h *Handlers) load(ctx context.Context, t *asynq.Task, raw string) (job, error) {
	id, err := state.ParseUploadID(raw)
	if err != nil {
		return job{}, h.garbage(t, err)
	}
	u, err := h.store.GetUpload(ctx, id)
	if errors.Is(err, state.ErrNotFound) && h.compacted(ctx, id) {
		// A redelivered task of an upload that completed in a fed migration (its record was
		// compacted): nothing to do, and nothing to archive.
		h.log.Debug("UploadCompacted", "task", t.Type(), "upload_id", raw)
		return job{}, fmt.Errorf("tasks: upload %s completed and was compacted: %w", raw, asynq.RevokeTask)
	}
	if errors.Is(err, state.ErrNotFound) {
		h.log.Warn("UploadUnknown", "task", t.Type(), "upload_id", raw)
		return job{}, fmt.Errorf("tasks: upload %s does not exist (expired or never created): %w", raw, asynq.SkipRetry)
	}
	if err != nil {
		return job{}, err
	}
	return traced(ctx, job{u: u, log: h.log.With("upload_id", raw, "bucket", u.Bucket, "key", u.Key), task: t.Type()}), nil
}

// compacted reports whether a missing upload belongs to a fed migration (whose completed
// uploads keep no record).
func (h *Handlers) compacted(ctx context.Context, id state.UploadID) bool {
	m, err := h.store.GetMigration(ctx, id.Migration)
	return err == nil && m.Fed
}

func (h *Handlers) garbage(t *asynq.Task, err error) error {
	h.log.Error("TaskMalformed", "task", t.Type(), "payload_bytes", len(t.Payload()), "error", err)
	return fmt.Errorf("tasks: malformed %s payload: %w: %w", t.Type(), err, asynq.SkipRetry)
}

func decode[P any](h *Handlers, t *asynq.Task) (P, error) {
	var p P
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return p, h.garbage(t, err)
	}
	return p, nil
}

// fail records a permanent failure on the upload and returns the error that tells asynq not to
// retry. With abort, the multipart upload is aborted too (nothing can resume it).
func (h *Handlers) fail(ctx context.Context, j job, cause error, abort bool) error {
	reason := cause.Error()
	// A part task fails only an uploading upload: one that is completing belongs to its
	// finalizer, whatever a late or redelivered part finds.
	// Any version, but never over a live finalizer's claim (the script refuses that), unless
	// this run is that finalizer.
	from := []state.State{state.Planned, state.Uploading, state.Completing}
	version := state.AnyVersion
	switch {
	case j.claimed != 0:
		from, version = []state.State{state.Completing}, j.claimed
	case j.task == TypePart:
		from = []state.State{state.Uploading}
	}
	out, err := h.store.Transition(context.WithoutCancel(ctx), j.u.ID, version, from, state.Failed, "error", reason)
	if err != nil {
		// The task is archived either way; the error names both problems.
		return fmt.Errorf("tasks: upload failed (%v) and recording that failed: %w: %w", cause, err, asynq.SkipRetry)
	}
	if out.Result != state.ResultOK {
		// Someone else finished, failed or cancelled it first: leave their outcome alone.
		j.log.Info("FailSuperseded", "reason", reason, "state", out.State)
		return fmt.Errorf("%w: %w", cause, asynq.SkipRetry)
	}
	j.log.Error("UploadFailed", "reason", reason)
	h.countAttempt(ctx, j.u.ID)
	h.metrics.UploadFinished(string(state.Failed))
	if abort {
		h.abort(ctx, j)
	}
	h.reportIfFinished(ctx, j, out)
	return fmt.Errorf("%w: %w", cause, asynq.SkipRetry)
}

// abort discards the upload's S3 multipart upload, on a context that outlives the task's.
func (h *Handlers) abort(ctx context.Context, j job) {
	if j.u.S3UploadID == "" {
		return
	}
	h.abortS3(ctx, j, j.u.S3UploadID)
}

// abortS3 discards S3 multipart upload s3ID of j's object, on a context that outlives the task's.
func (h *Handlers) abortS3(ctx context.Context, j job, s3ID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err := h.s3.AbortUpload(ctx, j.object(), s3ID)
	if err != nil && !errors.Is(err, storage.ErrNoSuchUpload) {
		j.log.Warn("AbortFailed", "s3_upload_id", s3ID, "error", err) // the janitor aborts it later
		return
	}
	_ = h.store.ForgetS3Upload(ctx, s3ID) // best effort: the janitor prunes it too
	j.log.Info("MultipartAborted", "s3_upload_id", s3ID)
}

// retryOrGiveUp returns err for asynq to retry, unless this was the last attempt: then the
// upload is marked failed with the reason (its multipart upload is kept, so it can be resumed).
func (h *Handlers) retryOrGiveUp(ctx context.Context, j job, err error) error {
	retried, ok := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	if !ok || retried < maxRetry { // !ok: called outside asynq, which cannot give up for us
		j.log.Warn("TaskRetry", "attempt", retried+1, "error", err)
		h.countAttempt(ctx, j.u.ID)
		h.metrics.Retry(j.task)
		return err
	}
	return h.fail(ctx, j, fmt.Errorf("gave up after %d attempts: %w", retried+1, err), false)
}
