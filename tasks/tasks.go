// Package tasks defines partflow's asynq tasks: their type names, payloads, constructors and
// handlers.
//
// An upload is a chain of tasks: upload:start plans it and enqueues one upload:part task per
// multipart part; the part that completes the set enqueues upload:finalize, which completes the
// multipart upload exactly once under a version compare-and-swap (see internal/state).
// Task IDs are deterministic, so enqueueing a task twice is a no-op while the first exists, and
// every handler is idempotent because asynq delivers at least once.
package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/tracing"
)

// Task type names.
const (
	TypeStart    = "upload:start"
	TypePart     = "upload:part"
	TypeFinalize = "upload:finalize"
	TypeBatch    = "upload:batch"
	TypeAbort    = "upload:abort"
	TypeJanitor  = "maintenance:janitor"
	// TypeReport writes a finished migration's report object (migrate --report-to).
	TypeReport = "migration:report"
)

// Queue names. Part tasks go to the migration's queue (default unless a priority was asked for).
const (
	QueueHigh    = "high"
	QueueDefault = "default"
	QueueLow     = "low"
	// QueueFeed holds migration feeders only (one task per fed migration at most), so a
	// feeder's next run never waits behind the window of start tasks it enqueued; every
	// worker serves it (internal/worker adds it to any queue list).
	QueueFeed = "feed"
)

// Queues are the queues a worker serves, with their weights.
func Queues() map[string]int { return map[string]int{QueueHigh: 6, QueueDefault: 3, QueueLow: 1} }

// Retry budgets. asynq counts the recovery of a task whose worker was killed as a retry, so
// part and finalize tasks get a budget that survives many pod kills.
const (
	StartRetries    = 10
	PartRetries     = 25
	FinalizeRetries = 25
)

// UploadPayload is the payload of upload:start and upload:finalize. Everything else about the
// upload is read from its record in Redis; payloads never carry secrets.
type UploadPayload struct {
	UploadID string `json:"upload_id"`
}

// PartPayload is the payload of upload:part. S3UploadID and Parts fence the task to the plan
// that enqueued it: a part task whose S3 upload ID (or part count) is no longer the upload's
// (the upload was reset and planned again) is dropped, never recorded. A payload without them
// (enqueued by an older worker) is fenced by what the handler reads when it starts.
type PartPayload struct {
	UploadID   string `json:"upload_id"`
	Part       int    `json:"part"`
	S3UploadID string `json:"s3_upload_id,omitempty"`
	Parts      int    `json:"parts,omitempty"`
}

// NewStartTask returns the upload:start task of an upload. Like every constructor here, it
// puts ctx's trace (if any) in the task's headers, so the task continues it.
func NewStartTask(ctx context.Context, id state.UploadID) *asynq.Task {
	return asynq.NewTaskWithHeaders(TypeStart, mustJSON(UploadPayload{UploadID: id.String()}), tracing.Headers(ctx),
		asynq.TaskID(StartTaskID(id)), asynq.Queue(QueueHigh), asynq.MaxRetry(StartRetries),
		asynq.Timeout(10*time.Minute))
}

// NewPartTask returns the upload:part task for part n of a planned upload u (its S3 upload ID,
// part count, part size and plan generation are read from u).
func NewPartTask(ctx context.Context, u state.Upload, n int, queue string) *asynq.Task {
	return asynq.NewTaskWithHeaders(TypePart, mustJSON(PartPayload{UploadID: u.ID.String(), Part: n, S3UploadID: u.S3UploadID,
		Parts: u.Parts}), tracing.Headers(ctx),
		asynq.TaskID(PartTaskID(u, n)), asynq.Queue(queue), asynq.MaxRetry(PartRetries),
		asynq.Timeout(PartTimeout(u.PartSize)))
}

// PartTaskID is the task ID of part n of u: "<upload>:part:<n>" for an upload's first plan and
// "<upload>:part:<n>:<generation>" after it was reset and planned again, so the tasks of a new
// plan never collide with a previous plan's (which may still be queued, and are dropped by
// their fence when they run).
func PartTaskID(u state.Upload, n int) string {
	id := u.ID.String() + ":part:" + strconv.Itoa(n)
	if u.Generation > 0 {
		id += ":" + strconv.FormatInt(u.Generation, 10)
	}
	return id
}

// StartTaskID is the task ID of an upload's upload:start task.
func StartTaskID(id state.UploadID) string { return id.String() + ":start" }

// FinalizeTaskID is the task ID of an upload's upload:finalize task.
func FinalizeTaskID(id state.UploadID) string { return id.String() + ":finalize" }

// AbortTaskID is the task ID of an upload's upload:abort task.
func AbortTaskID(id state.UploadID) string { return id.String() + ":abort" }

// PartQueue is the queue of a migration's part tasks: the one its priority chose, or the
// default queue (a migration record from before queues were recorded, or one that expired).
func PartQueue(m state.Migration) string {
	if m.Queue == "" {
		return QueueDefault
	}
	return m.Queue
}

// TaskRef names one task: its queue and ID, and for a part task the part number.
type TaskRef struct {
	Queue, ID string
	Part      int // 0 for a task that is not a part's
	// Shared marks a task that carries other uploads too (an upload:batch task): cancel
	// leaves it, since it skips an upload that is no longer planned.
	Shared bool
}

// UploadTasks lists the tasks that can move upload u, in the order they run: its batch task
// (if it was given one, Shared), its start task, the part tasks of the parts of its current plan for which pending(n) is true (every part
// when pending is nil) in partQueue, its finalizer and its abort task. Cancel deletes them,
// the janitor looks for a live one, the monitor shows them.
func UploadTasks(u state.Upload, partQueue string, pending func(n int) bool) []TaskRef {
	var refs []TaskRef
	if u.Batch != "" {
		refs = append(refs, TaskRef{Queue: QueueHigh, ID: u.Batch, Shared: true})
	}
	refs = append(refs, TaskRef{Queue: QueueHigh, ID: StartTaskID(u.ID)})
	for n := 1; n <= u.Parts; n++ {
		if pending == nil || pending(n) {
			refs = append(refs, TaskRef{Queue: partQueue, ID: PartTaskID(u, n), Part: n})
		}
	}
	return append(refs, TaskRef{Queue: QueueHigh, ID: FinalizeTaskID(u.ID)}, TaskRef{Queue: QueueHigh, ID: AbortTaskID(u.ID)})
}

// NewFinalizeTask returns the upload:finalize task of an upload of size bytes.
func NewFinalizeTask(ctx context.Context, id state.UploadID, size int64) *asynq.Task {
	return asynq.NewTaskWithHeaders(TypeFinalize, mustJSON(UploadPayload{UploadID: id.String()}), tracing.Headers(ctx),
		asynq.TaskID(FinalizeTaskID(id)), asynq.Queue(QueueHigh), asynq.MaxRetry(FinalizeRetries),
		asynq.Timeout(CompleteTimeout(size)+time.Minute))
}

// PartTimeout is how long one attempt at a part may take: five minutes plus a second per MiB.
func PartTimeout(length int64) time.Duration {
	return 5*time.Minute + time.Duration(length>>20)*time.Second
}

// CompleteTimeout is how long CompleteMultipartUpload may take for an object of size bytes.
// Some servers copy every part at Complete (versitygw's posix backend, ≈230 MB/s here), so it
// grows with the size: 30 s plus a second per 50 MB. It also bounds how long a finalizer
// that died mid-Complete holds its upload (its claim lasts this plus 30 s), so it is not
// padded further: a slower Complete is an unclear outcome, which the finalizer settles by
// looking at the object.
func CompleteTimeout(size int64) time.Duration {
	return 30*time.Second + time.Duration(size/50e6)*time.Second
}

// RetryDelay is the worker's asynq RetryDelayFunc: exponential from one second, capped at one
// minute, with jitter, instead of asynq's n⁴+15 s that would stall an upload for hours over
// a few flaky parts. An error that carries a server's Retry-After (a method
// RetryAfter() time.Duration, as URL sources return for 429 and 5xx) waits at least that long
// instead (capped at MaxRetryAfter; a finalizer waiting on another's claim waits until the claim
// lapses, uncapped): asynq keeps retry times in whole seconds and may run a
// task up to a second early, so a second is added, and up to a tenth more so that retries do
// not arrive together.
func RetryDelay(n int, err error, _ *asynq.Task) time.Duration {
	if c, ok := errors.AsType[claimedError](err); ok {
		// Waiting for another finalizer's claim: retry right after it lapses, however long.
		return max(time.Until(c.waitUntil()), time.Second)
	}
	if ra, ok := errors.AsType[retryAfterError](err); ok && ra.RetryAfter() > 0 {
		d := min(ra.RetryAfter(), MaxRetryAfter)
		return d + time.Second + rand.N(d/10+1)
	}
	d := time.Minute
	if n < 6 {
		d = time.Second << n
	}
	return d + rand.N(d/2+1)
}

// MaxRetryAfter caps the wait a server's Retry-After can ask of a task.
const MaxRetryAfter = 10 * time.Minute

// retryAfterError is an error that says how long to wait before retrying.
type retryAfterError interface {
	error
	RetryAfter() time.Duration
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("tasks: marshal %T: %v", v, err)) // plain structs: cannot fail
	}
	return b
}
