package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/storage"
)

// Janitor actions, the values of the "action" label of partflow_janitor_actions_total.
const (
	ActionStalledFailed = "stalled_failed" // a live upload without progress was failed (its parts are kept for resume)
	ActionOrphanAborted = "orphan_aborted" // an S3 multipart upload no live partflow upload owns was aborted
	ActionIndexPruned   = "index_pruned"   // an expired migration was dropped from the index
	// ActionAbandonedAborted: a multipart upload partflow started and its upload can no longer
	// use (record expired, completed, cancelled, started over) was aborted.
	ActionAbandonedAborted = "abandoned_aborted"
	// ActionFailedAbandoned: the multipart upload of an upload failed for longer than
	// JanitorConfig.AbandonAfter was aborted (its parts are gone; resume starts over).
	ActionFailedAbandoned = "failed_abandoned"
	// ActionFeederRestarted: a fed migration that is not sealed had no feeder task left
	// (its last run archived after its retries, or deleted) and got a new run.
	ActionFeederRestarted = "feeder_restarted"
	// ActionArchivedFailed: a live upload one of whose tasks asynq archived (its retries used
	// up, e.g. by worker kills the recoverer counted) was failed with that reason, keeping
	// its parts.
	ActionArchivedFailed = "archived_failed"
)

// Location is a bucket, or a key prefix in one, whose incomplete multipart uploads the janitor
// manages: any there that no partflow upload owns is aborted after the grace period.
type Location struct {
	Bucket string
	Prefix string
}

// JanitorConfig configures the maintenance:janitor task.
type JanitorConfig struct {
	// StalledAfter: a live upload whose record has not changed for this long, and that has no
	// task left in a queue to move it, is failed; its multipart upload is kept, so that resume
	// sends only the missing parts. Default 24h.
	StalledAfter time.Duration
	// AbandonAfter: the multipart upload of an upload that has been failed (and not resumed)
	// for this long is aborted, so its parts stop costing storage; a later resume starts over.
	// Default 7 days.
	AbandonAfter time.Duration
	// OrphanGrace: an incomplete S3 multipart upload under Managed that no live upload owns is
	// aborted once it is older than this. Default 24h.
	OrphanGrace time.Duration
	// Managed lists where the janitor looks for orphaned multipart uploads. Empty: nowhere.
	Managed []Location
}

func (c *JanitorConfig) validate() error {
	if c.StalledAfter < 0 || c.OrphanGrace < 0 || c.AbandonAfter < 0 {
		return fmt.Errorf("tasks: janitor durations must not be negative")
	}
	if c.StalledAfter == 0 {
		c.StalledAfter = 24 * time.Hour
	}
	if c.OrphanGrace == 0 {
		c.OrphanGrace = 24 * time.Hour
	}
	if c.AbandonAfter == 0 {
		c.AbandonAfter = 7 * 24 * time.Hour
	}
	for _, l := range c.Managed {
		if err := storage.ValidateObject(storage.Object{Bucket: l.Bucket, Key: "x"}); err != nil {
			return fmt.Errorf("tasks: janitor location %q: %w", l.Bucket, err)
		}
	}
	return nil
}

// NewJanitorTask returns the maintenance:janitor task. Enqueue it with asynq.Unique(interval)
// (the worker's scheduler does), so a fleet runs it once per interval.
func NewJanitorTask() *asynq.Task {
	return asynq.NewTask(TypeJanitor, nil, asynq.Queue(QueueLow), asynq.MaxRetry(0), asynq.Timeout(30*time.Minute))
}

// janitorLockTTL is how long the janitor's lock outlives its holder: the holder extends it
// while it runs, so a janitor killed mid-run blocks the next ones for a minute at most. A
// second janitor started meanwhile does nothing.
const janitorLockTTL = time.Minute

// HandleJanitorTask fails stalled uploads, aborts orphaned multipart uploads and prunes the
// migrations index. Only one janitor works at a time (a Redis lock); another one started
// meanwhile returns at once.
func (h *Handlers) HandleJanitorTask(ctx context.Context, _ *asynq.Task) error {
	release, ok, err := h.store.TryLock(ctx, "janitor", janitorLockTTL)
	if err != nil {
		return err
	}
	if !ok {
		h.log.Info("JanitorSkipped", "reason", "another janitor is running")
		return nil
	}
	defer release()
	pruned, err := h.store.PruneMigrationsIndex(ctx)
	if err != nil {
		return err
	}
	for range pruned {
		h.metrics.JanitorAction(ActionIndexPruned)
	}
	archived, err := h.failArchived(ctx)
	if err != nil {
		return err
	}
	stalled, err := h.failStalled(ctx)
	if err != nil {
		return err
	}
	abandoned, err := h.abortAbandoned(ctx)
	if err != nil {
		return err
	}
	orphans, err := h.abortOrphans(ctx)
	if err != nil {
		return err
	}
	reports, err := h.reportBackstop(ctx)
	if err != nil {
		return err
	}
	feeders, err := h.restartFeeders(ctx)
	if err != nil {
		return err
	}
	h.log.Info("JanitorDone", "archived_failed", archived, "stalled_failed", stalled, "abandoned_aborted", abandoned, "orphans_aborted", orphans,
		"index_pruned", pruned, "reports_enqueued", reports, "feeders_restarted", feeders)
	return nil
}

// failStalled fails live uploads that made no progress for StalledAfter.
func (h *Handlers) failStalled(ctx context.Context) (int, error) {
	before := time.Now().Add(-h.janitor.StalledAfter)
	stalled := 0
	err := h.eachMigration(ctx, func(m state.Migration) error {
		if m.Finished() || m.Completed+m.Failed+m.Cancelled >= m.Total {
			return nil // no live upload (a migration never sealed expires by itself)
		}
		if m.Paused() {
			return nil // its uploads wait for resume on purpose
		}
		ids, err := h.store.StalledUploads(ctx, m.ID, before, 1000)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if h.failStalledUpload(ctx, id, before) {
				stalled++
			}
		}
		return nil
	})
	return stalled, err
}

// eachMigration calls fn with every migration of the index, a page at a time, until fn
// returns an error.
func (h *Handlers) eachMigration(ctx context.Context, fn func(state.Migration) error) error {
	const page = 500
	for offset := int64(0); ; offset += page {
		ms, total, err := h.store.ListMigrations(ctx, offset, page)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if err := fn(m); err != nil {
				return err
			}
		}
		if offset+page >= total {
			return nil
		}
	}
}

func (h *Handlers) failStalledUpload(ctx context.Context, id state.UploadID, before time.Time) bool {
	u, err := h.store.GetUpload(ctx, id)
	if err != nil || u.State.Terminal() || u.Updated.After(before) {
		return false
	}
	if h.waiting(ctx, u) {
		return false // a task will move it: it is queued behind others, not stalled
	}
	j := job{u: u, log: h.log.With("upload_id", id.String(), "bucket", u.Bucket, "key", u.Key)}
	reason := fmt.Sprintf("stalled: no progress since %s (janitor)", u.Updated.Format(time.RFC3339))
	out, err := h.store.Transition(ctx, id, u.Version, []state.State{u.State}, state.Failed, "error", reason)
	if err != nil || out.Result != state.ResultOK {
		return false // it moved meanwhile: not stalled after all
	}
	j.log.Warn("UploadStalled", "reason", reason) // its multipart upload is kept for resume
	h.metrics.UploadFinished(string(state.Failed))
	h.metrics.JanitorAction(ActionStalledFailed)
	return true
}

// abortOrphans aborts old multipart uploads under the managed locations that no live or
// resumable partflow upload owns.
func (h *Handlers) abortOrphans(ctx context.Context) (int, error) {
	aborted := 0
	for _, loc := range h.janitor.Managed {
		ups, err := h.s3.ListUploads(ctx, loc.Bucket, loc.Prefix)
		if err != nil {
			return aborted, fmt.Errorf("tasks: janitor: list multipart uploads in %s: %w", loc.Bucket, err)
		}
		for _, up := range ups {
			if time.Since(up.Initiated) < h.janitor.OrphanGrace {
				continue
			}
			keep, err := h.owned(ctx, up.UploadID)
			if err != nil {
				return aborted, err
			}
			if keep {
				continue
			}
			if err := h.s3.AbortUpload(ctx, up.Object, up.UploadID); err != nil {
				h.log.Warn("OrphanAbortFailed", "bucket", up.Object.Bucket, "key", up.Object.Key, "error", err)
				continue
			}
			_ = h.store.ForgetS3Upload(ctx, up.UploadID)
			h.log.Info("OrphanAborted", "bucket", up.Object.Bucket, "key", up.Object.Key, "initiated", up.Initiated)
			h.metrics.JanitorAction(ActionOrphanAborted)
			aborted++
		}
	}
	return aborted, nil
}

// owned reports whether an S3 multipart upload belongs to a partflow upload that may still
// use it: a live one, or a failed one that can be resumed.
func (h *Handlers) owned(ctx context.Context, s3ID string) (bool, error) {
	note, ok, err := h.store.S3UploadOwner(ctx, s3ID)
	if err != nil || !ok {
		return false, err
	}
	use, err := h.inUse(ctx, note)
	return use == inUse, err
}

// s3Use is what may still use an S3 multipart upload partflow started.
type s3Use int

const (
	inUse           s3Use = iota // its upload is live, planned or failed (resumable), and names it
	unused                       // its record expired, it completed or was cancelled, or it started over
	failedAbandoned              // its upload has been failed for longer than AbandonAfter
)

// inUse tells whether the upload that started an S3 multipart upload may still use it: it is
// live or failed (resumable, for AbandonAfter) and still names it, or it is planned (its start
// task may be between creating the multipart upload and recording it).
func (h *Handlers) inUse(ctx context.Context, note state.S3Upload) (s3Use, error) {
	id, err := state.ParseUploadID(note.Upload)
	if err != nil {
		return unused, nil
	}
	u, err := h.store.GetUpload(ctx, id)
	if errors.Is(err, state.ErrNotFound) {
		return unused, nil // the record expired: nothing will use it
	}
	if err != nil {
		return inUse, err
	}
	switch {
	case u.State == state.Planned:
		return inUse, nil
	case u.S3UploadID != note.S3UploadID || (u.State.Terminal() && u.State != state.Failed):
		return unused, nil
	case u.State == state.Failed && time.Since(u.Updated) >= h.janitor.AbandonAfter:
		return failedAbandoned, nil
	}
	return inUse, nil
}

// abortAbandoned goes through partflow's notes of the multipart uploads it started (in every
// bucket, managed or not) and aborts those their upload can no longer use: its record expired,
// it completed or was cancelled, or it started over with another one; and those of uploads
// failed for longer than AbandonAfter. It drops the notes.
func (h *Handlers) abortAbandoned(ctx context.Context) (int, error) {
	aborted := 0
	var cursor uint64
	for {
		notes, next, err := h.store.ScanS3Uploads(ctx, cursor, 500)
		if err != nil {
			return aborted, err
		}
		for _, note := range notes {
			use, err := h.inUse(ctx, note)
			if err != nil {
				return aborted, err
			}
			if use == inUse {
				continue
			}
			obj := storage.Object{Bucket: note.Bucket, Key: note.Key}
			log := h.log.With("upload_id", note.Upload, "bucket", obj.Bucket, "key", obj.Key)
			err = h.s3.AbortUpload(ctx, obj, note.S3UploadID)
			if err != nil && !errors.Is(err, storage.ErrNoSuchUpload) {
				log.Warn("AbandonedAbortFailed", "error", err)
				continue
			}
			if err == nil {
				aborted++
				if use == failedAbandoned {
					log.Warn("FailedUploadAbandoned", "abandon_after", h.janitor.AbandonAfter,
						"reason", "failed and not resumed for longer than the abandon age: its uploaded parts are aborted; resume starts over")
					h.metrics.JanitorAction(ActionFailedAbandoned)
				} else {
					log.Info("AbandonedAborted")
					h.metrics.JanitorAction(ActionAbandonedAborted)
				}
			}
			if err := h.store.ForgetS3Upload(ctx, note.S3UploadID); err != nil {
				return aborted, err
			}
		}
		if next == 0 {
			return aborted, nil
		}
		cursor = next
	}
}

// TaskLookup finds asynq tasks by queue and ID, lists archived ones and deletes one (an
// archived task that would block its ID); *asynq.Inspector is one.
type TaskLookup interface {
	GetTaskInfo(queue, id string) (*asynq.TaskInfo, error)
	ListArchivedTasks(queue string, opts ...asynq.ListOption) ([]*asynq.TaskInfo, error)
	DeleteTask(queue, id string) error
}

// failArchived fails the live uploads one of whose tasks asynq archived: a task whose retries
// were used up without its handler giving up (asynq's recoverer counts a killed worker's task
// as a retry and archives it silently once the budget is spent). Nothing would move such an
// upload again, so it fails with that reason at once instead of after StalledAfter; its
// multipart upload is kept, so resume sends only what is missing. Archived tasks of terminal
// uploads (a handler's own permanent failure), of an older plan, or of a part that is
// recorded meanwhile are left alone. Without a TaskLookup it does nothing.
func (h *Handlers) failArchived(ctx context.Context) (int, error) {
	if h.tasks == nil {
		return 0, nil
	}
	failed := 0
	const page = 500
	for _, queue := range []string{QueueHigh, QueueDefault, QueueLow} {
		for p := 1; ; p++ {
			infos, err := h.tasks.ListArchivedTasks(queue, asynq.PageSize(page), asynq.Page(p))
			if errors.Is(err, asynq.ErrQueueNotFound) {
				break
			}
			if err != nil {
				return failed, fmt.Errorf("tasks: janitor: list archived tasks of %s: %w", queue, err)
			}
			for _, info := range infos {
				ok, err := h.failArchivedTask(ctx, info)
				if err != nil {
					return failed, err
				}
				if ok {
					failed++
				}
			}
			if len(infos) < page {
				break
			}
		}
	}
	return failed, nil
}

// failArchivedTask fails the upload of one archived task if that task was still needed.
func (h *Handlers) failArchivedTask(ctx context.Context, info *asynq.TaskInfo) (bool, error) {
	var p PartPayload // upload:start and upload:finalize payloads are its first field
	switch info.Type {
	case TypeStart, TypePart, TypeFinalize:
	default:
		return false, nil
	}
	if json.Unmarshal(info.Payload, &p) != nil {
		return false, nil
	}
	id, err := state.ParseUploadID(p.UploadID)
	if err != nil {
		return false, nil
	}
	u, err := h.store.GetUpload(ctx, id)
	if errors.Is(err, state.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if u.State.Terminal() || (u.State == state.Completing && time.Now().Before(u.ClaimUntil)) {
		return false, nil // finished, or a finalizer holds it
	}
	if u.ArchivedTask == info.ID || (!info.LastFailedAt.IsZero() && !u.StateSince.Before(info.LastFailedAt)) {
		// This archive failed the upload once already, or the upload entered its state after
		// the task was given up (it was failed and resumed since): old news. (An archived
		// copy of a task has an ID resume cannot drop.)
		return false, nil
	}
	if info.Type == TypePart {
		if u.State != state.Uploading || (p.S3UploadID != "" && (state.PartFence{S3UploadID: p.S3UploadID, Parts: p.Parts}) != u.Fence()) {
			return false, nil // a part of another plan: not needed
		}
		recorded, err := h.store.PartRecorded(ctx, u.ID, p.Part)
		if err != nil || recorded {
			return false, err
		}
	}
	reason := fmt.Sprintf("task %s was archived after %d retries (asynq gave up on it; last error: %s); resume sends what is missing",
		info.ID, info.Retried, orNone(info.LastErr))
	out, err := h.store.Transition(ctx, u.ID, u.Version, []state.State{u.State}, state.Failed, "error", reason,
		"archived_task", info.ID)
	if err != nil || out.Result != state.ResultOK {
		return false, err // it moved meanwhile: the next run looks again
	}
	h.log.Warn("UploadTaskArchived", "upload_id", u.ID.String(), "bucket", u.Bucket, "key", u.Key, "task_id", info.ID,
		"reason", reason)
	h.metrics.UploadFinished(string(state.Failed))
	h.metrics.JanitorAction(ActionArchivedFailed)
	return true, nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

var _ TaskLookup = (*asynq.Inspector)(nil)

// nextFeedRun finds the feeder run to enqueue for m (see restartFeeders), or alive when one
// can still run.
func (h *Handlers) nextFeedRun(m state.Migration) (int64, bool, error) {
	first := max(m.FeedRun, 1)
	for next := first; ; next++ {
		info, err := h.tasks.GetTaskInfo(QueueFeed, FeedTaskID(m.ID, next))
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
			if next == first && m.FeedRun > 0 {
				continue // the run that claimed the feed ended (its task is gone): look at the next
			}
			return next, false, nil
		case err != nil:
			return 0, false, fmt.Errorf("tasks: janitor: feeder of %s: %w", m.ID, err)
		case info.State != asynq.TaskStateArchived && info.State != asynq.TaskStateCompleted:
			return next, true, nil
		}
	}
}

// restartFeeders gives a new feeder run to every fed migration that is not sealed (its
// listing has not ended and it was not cancelled) but has no feeder task that can still run
// (the last was archived after its retries, or deleted). The new run is the next number, with its deterministic task ID, so
// it is enqueued once however many janitors look; a run that finds a later one started
// stops, and the feed's checkpoint keeps a doubled run from creating anything twice.
// Without a TaskLookup it does nothing. It returns how many feeders it restarted.
//
// Feeder runs are numbered, each enqueuing the next: from the run that last claimed the feed
// (1 before any did), the runs are looked at in order: one whose task can still run
// (pending, scheduled, retrying, active) means the feed is alive; archived ones are skipped
// (their IDs are taken), and so is the claiming run's own when it is gone (it ended); the
// first other number with no task is the run to enqueue.
func (h *Handlers) restartFeeders(ctx context.Context) (int, error) {
	if h.tasks == nil {
		return 0, nil
	}
	n := 0
	err := h.eachMigration(ctx, func(m state.Migration) error {
		if !m.Fed || m.Sealed {
			return nil
		}
		next, alive, err := h.nextFeedRun(m)
		if err != nil || alive {
			return err
		}
		_, err = h.queue.EnqueueContext(ctx, NewFeedTask(m.ID, next, 0))
		if errors.Is(err, asynq.ErrTaskIDConflict) {
			return nil // another janitor (or the feeder) enqueued it meanwhile
		}
		if err != nil {
			return fmt.Errorf("tasks: janitor: restart the feeder of %s: %w", m.ID, err)
		}
		h.log.Warn("FeederRestarted", "migration_id", m.ID, "run", next,
			"reason", fmt.Sprintf("no task of feeder run %d or later was left in the queue", max(m.FeedRun, 1)))
		h.metrics.JanitorAction(ActionFeederRestarted)
		n++
		return nil
	})
	return n, err
}

// waiting reports whether a task that can still move the upload is in a queue (pending,
// scheduled, retrying or running): then a long wait means a backlog, not a stall. Without a
// TaskLookup the janitor goes by time alone.
func (h *Handlers) waiting(ctx context.Context, u state.Upload) bool {
	if h.tasks == nil {
		return false
	}
	alive := func(queue, id string) bool {
		info, err := h.tasks.GetTaskInfo(queue, id)
		return err == nil && info.State != asynq.TaskStateArchived && info.State != asynq.TaskStateCompleted
	}
	var m state.Migration
	var done map[int]bool
	if u.State == state.Uploading {
		var err error
		if m, err = h.store.GetMigration(ctx, u.ID.Migration); err != nil && !errors.Is(err, state.ErrNotFound) {
			return true // cannot tell: leave it for the next run
		}
		recorded, err := h.store.PartETags(ctx, u.ID)
		if err != nil {
			return true
		}
		done = make(map[int]bool, len(recorded))
		for _, p := range recorded {
			done[p.Number] = true
		}
	}
	// Only an uploading upload has part tasks that can move it.
	pending := func(n int) bool { return done != nil && !done[n] }
	for _, t := range UploadTasks(u, PartQueue(m), pending) {
		if alive(t.Queue, t.ID) {
			return true
		}
	}
	return false
}
