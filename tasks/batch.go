package tasks

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/tracing"
	"github.com/partflow/partflow/storage"
)

// Small objects go several to one upload:batch task: asynq's own cost of a task (about twenty
// Redis commands to enqueue, dequeue and retire it) and the recording of the completions (one
// script for the batch) are shared by the batch's uploads.
const (
	// BatchMaxUploads is the most uploads one batch task carries.
	BatchMaxUploads = 32
	// BatchMaxObject is the largest upload, in bytes, that EnqueueCreated sends in a batch.
	BatchMaxObject = 4 << 20
	// BatchMaxBytes bounds the bytes of one batch task (its timeout is sized for them).
	BatchMaxBytes = 64 << 20
)

// BatchPayload is the payload of upload:batch: uploads of one migration, each small enough
// for one PutObject.
type BatchPayload struct {
	Uploads []string `json:"uploads"`
}

// NewItem is an upload to create and the source's size, if the listing knew it (else 0).
type NewItem struct {
	Upload state.NewUpload
	Size   int64
}

// CreateAndEnqueue creates uploads of one migration (at most state.CreateUploadsMax) in one
// script and enqueues the work of the new ones: those known to be small (at most
// BatchMaxObject) go in upload:batch tasks of up to BatchMaxUploads uploads (and BatchMaxBytes),
// the others (and a small one that would be alone in its batch) get their upload:start task.
// It reports, per item, whether its upload was created now; an upload that existed is left
// to the caller. A task that exists already is fine (the IDs are deterministic: a batch is
// named after its first new upload), so calling it again with the same uploads enqueues nothing
// twice.
func CreateAndEnqueue(ctx context.Context, store *state.Store, q Enqueuer, items []NewItem) ([]bool, error) {
	us := make([]state.NewUpload, len(items))
	group, count, bytes := 0, 0, int64(0)
	for i, it := range items {
		us[i] = it.Upload
		us[i].BatchGroup = 0
		if it.Size <= 0 || it.Size > BatchMaxObject {
			continue
		}
		if group == 0 || count == BatchMaxUploads || bytes+it.Size > BatchMaxBytes {
			group, count, bytes = group+1, 0, 0
		}
		us[i].BatchGroup = group
		count++
		bytes += it.Size
	}
	created, err := store.CreateUploads(ctx, us)
	if err != nil {
		return nil, err
	}
	isNew := make([]bool, len(items))
	type batch struct {
		ids   []state.UploadID
		bytes int64
	}
	var order []string
	batches := map[string]*batch{}
	for i, c := range created {
		isNew[i] = c.New
		switch {
		case !c.New:
		case c.Batch == "":
			if err := enqueueNew(ctx, q, NewStartTask(ctx, us[i].ID)); err != nil {
				return isNew, err
			}
		default:
			b := batches[c.Batch]
			if b == nil {
				b = &batch{}
				batches[c.Batch] = b
				order = append(order, c.Batch)
			}
			b.ids = append(b.ids, us[i].ID)
			b.bytes += items[i].Size
		}
	}
	for _, name := range order {
		b := batches[name]
		if BatchTaskID(b.ids[0]) != name {
			return isNew, fmt.Errorf("tasks: batch %s does not start with its first upload %s", name, b.ids[0])
		}
		if err := enqueueNew(ctx, q, NewBatchTask(ctx, b.ids, b.bytes)); err != nil {
			return isNew, err
		}
	}
	return isNew, nil
}

// enqueueNew enqueues t; a task with its ID that exists already is fine.
func enqueueNew(ctx context.Context, q Enqueuer, t *asynq.Task) error {
	if _, err := q.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("tasks: enqueue %s: %w", t.Type(), err)
	}
	return nil
}

// NewBatchTask returns the upload:batch task of uploads ids (of one migration, bytes in all).
// It carries ctx's trace (the migration's: a batch belongs to no one upload's trace).
func NewBatchTask(ctx context.Context, ids []state.UploadID, bytes int64) *asynq.Task {
	p := BatchPayload{Uploads: make([]string, len(ids))}
	for i, id := range ids {
		p.Uploads[i] = id.String()
	}
	return asynq.NewTaskWithHeaders(TypeBatch, mustJSON(p), tracing.Headers(ctx), asynq.TaskID(BatchTaskID(ids[0])), asynq.Queue(QueueHigh),
		asynq.MaxRetry(StartRetries), asynq.Timeout(PartTimeout(bytes)))
}

// BatchTaskID is the task ID of the upload:batch task whose first upload is first.
func BatchTaskID(first state.UploadID) string { return first.String() + ":batch" }

// HandleBatchTask uploads a batch of small objects, one PutObject each, concurrently (within
// the worker's Config.BatchPuts), and records their completions in one script. Each upload is what upload:start would make of
// it, with the same checks (source stat and fingerprint, Content-MD5, the destination's order);
// an upload that is no longer planned (done by an earlier run of this task, cancelled, started
// by its own start task) is skipped, so a redelivered batch counts nothing twice. An upload
// that fails for good fails alone; one that needs a retry, or the multipart path (its source
// grew), or skip-existing, is handed to its own upload:start task.
func (h *Handlers) HandleBatchTask(ctx context.Context, t *asynq.Task) error {
	p, err := decode[BatchPayload](h, t)
	if err != nil {
		return err
	}
	ids := make([]state.UploadID, len(p.Uploads))
	for i, raw := range p.Uploads {
		if ids[i], err = state.ParseUploadID(raw); err != nil {
			return h.garbage(t, err)
		}
		if ids[i].Migration != ids[0].Migration {
			return h.garbage(t, fmt.Errorf("batch mixes migrations %s and %s", ids[0].Migration, ids[i].Migration))
		}
	}
	if len(ids) == 0 {
		return h.garbage(t, errors.New("empty batch"))
	}
	uploads, err := h.store.GetUploads(ctx, ids)
	if err != nil {
		return err
	}
	// The batch's uploads go concurrently, as many at once as the worker's batch tokens allow
	// (shared by all its batch tasks, so a lone batch uses them all and many batches don't
	// multiply them).
	puts := make([]*state.SingleCompletion, len(uploads))
	jobs := make([]job, len(uploads))
	var wg sync.WaitGroup
	for i, u := range uploads {
		if u.State != state.Planned {
			continue
		}
		taken := false
		select {
		case h.batchPuts <- struct{}{}:
			taken = true
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			if taken {
				<-h.batchPuts
			}
			break // the task is over; what was put is recorded below, the rest runs again
		}
		jobs[i] = job{u: u, log: h.log.With("upload_id", u.ID.String(), "bucket", u.Bucket, "key", u.Key), task: TypeBatch}
		wg.Go(func() {
			defer func() { <-h.batchPuts }()
			if c, ok := h.putBatched(ctx, jobs[i]); ok {
				puts[i] = &c
			}
		})
	}
	wg.Wait()
	var done []state.SingleCompletion
	var putJobs []job
	for i, c := range puts {
		if c != nil {
			done = append(done, *c)
			putJobs = append(putJobs, jobs[i])
		}
	}
	if len(done) == 0 {
		return ctx.Err()
	}
	outs, err := h.store.CompleteBatch(context.WithoutCancel(ctx), done)
	if err != nil {
		return err // the retry puts the same bytes again and records them
	}
	for i, out := range outs {
		h.singleCompleted(ctx, putJobs[i], done[i].Plan, done[i].ETag, out)
	}
	return ctx.Err()
}

// putBatched puts one upload of a batch. It reports the completion to record, or false when
// the upload was failed or handed to its start task (or ctx ended).
func (h *Handlers) putBatched(ctx context.Context, j job) (state.SingleCompletion, bool) {
	handOver := func(why string, err error) (state.SingleCompletion, bool) {
		if ctx.Err() != nil {
			return state.SingleCompletion{}, false
		}
		j.log.Info("BatchHandedOver", "reason", why, "error", err)
		if err := h.enqueue(ctx, NewStartTask(ctx, j.u.ID), QueueHigh, StartTaskID(j.u.ID)); err != nil {
			// The janitor finds the planned upload without a live task and fails it, so it
			// is not lost; a resume starts it again.
			j.log.Error("BatchHandOverFailed", "error", err)
		}
		return state.SingleCompletion{}, false
	}
	failed := func(err error) (state.SingleCompletion, bool) {
		_ = h.fail(ctx, j, err, false) // it records and logs the failure
		return state.SingleCompletion{}, false
	}
	if j.u.SkipExisting {
		return handOver("skip-existing", nil)
	}
	info, err := h.sources.Stat(ctx, j.u.Source)
	if source.Permanent(err) {
		return failed(err)
	} else if err != nil {
		return handOver("stat", err)
	}
	parts, err := storage.PlanParts(info.Size, j.u.PartSize)
	if err != nil {
		return failed(err)
	}
	if !parts.SinglePut() {
		return handOver("larger than one part", nil)
	}
	plan := state.UploadPlan{Size: info.Size, Fingerprint: info.Fingerprint, PartSize: parts.PartSize, Parts: parts.Parts}
	opts, err := h.objectOptions(j)
	if err != nil {
		return failed(err)
	}
	opts.Metadata = withFingerprint(j.u.Metadata, info.Fingerprint)

	buf, release, err := h.budget.buffer(ctx, info.Size)
	if errors.Is(err, ErrPartTooLarge) {
		return failed(err)
	} else if err != nil {
		return handOver("memory budget", err)
	}
	defer release()
	if err := h.sources.ReadAt(ctx, j.u.Source, info, 0, buf); source.Permanent(err) {
		return failed(err)
	} else if err != nil {
		return handOver("read", err)
	}
	// The destination's write lease, as upload:start takes it, without waiting for an older
	// upload's write: that rare case goes to the start task, which waits.
	lease := PartTimeout(info.Size)
	c, err := h.store.ClaimDestination(ctx, j.u, lease)
	switch {
	case err != nil:
		return handOver("destination", err)
	case c.Result == state.DestinationSuperseded:
		return failed(supersededError(j, c.By))
	case c.Result == state.DestinationBusy:
		return handOver("destination busy", fmt.Errorf("upload %s: %w", c.By, errDestinationBusy))
	}
	pctx, cancel := context.WithTimeout(ctx, lease)
	part, err := h.s3.PutObject(pctx, j.object(), buf, opts)
	cancel()
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	if rerr := h.store.ReleaseDestination(rctx, j.u); rerr != nil {
		j.log.Warn("DestinationReleaseFailed", "error", rerr) // the lease lapses by itself
	}
	rcancel()
	if err != nil {
		if storage.Permanent(err) {
			return failed(fmt.Errorf("put object: %w", err))
		}
		return handOver("put object", err)
	}
	return state.SingleCompletion{ID: j.u.ID, Version: j.u.Version, Plan: plan, ETag: part.ETag}, true
}
