// Package client is the Go API for pipelines that hand uploads to partflow: it validates a
// request, writes the upload's record to Redis and enqueues its start task; then it reports
// status and waits for uploads to finish. It needs Redis only: S3 credentials live in workers.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/tracing"
	"github.com/partflow/partflow/storage"
	"github.com/partflow/partflow/tasks"
)

// ErrInvalid wraps every validation error of a request.
var ErrInvalid = errors.New("invalid request")

// ErrNotFound is returned for an unknown (or expired) upload or migration.
var ErrNotFound = state.ErrNotFound

// Config configures a Client.
type Config struct {
	// Retention is how long finished records are kept; 0 means the default (7 days).
	Retention time.Duration
	// Tracing, if set, traces each upload's enqueue (one trace per upload, which its tasks
	// continue in the workers; see internal/tracing); nil is tracing off.
	Tracing *tracing.Provider
}

// Client enqueues uploads and reads their state.
type Client struct {
	rdb   redis.UniversalClient
	store *state.Store
	queue *asynq.Client
	trace *tracing.Provider
}

// New returns a Client on rdb. Close it to release the task queue; rdb stays open.
func New(rdb redis.UniversalClient, cfg Config) (*Client, error) {
	store, err := state.New(rdb, state.Config{Retention: cfg.Retention})
	if err != nil {
		return nil, err
	}
	return &Client{rdb: rdb, store: store, queue: asynq.NewClientFromRedisClient(rdb), trace: cfg.Tracing}, nil
}

// Close releases the client (not the Redis connection it was given).
func (c *Client) Close() error { return c.queue.Close() }

// PutRequest asks for one object to be uploaded.
type PutRequest struct {
	Source string // a path relative to the volume root, an http(s) URL or s3://bucket/key
	// ContentType, Metadata: for an s3:// source, the source object's own content type and
	// metadata are carried over; these win over them (metadata key by key).
	Bucket      string
	Key         string
	PartSize    int64  // 0 for the default (16 MiB)
	ContentType string // empty: guessed from the key's extension (storage.ContentTypeFor)
	Metadata    map[string]string
	Options     ObjectOptions
}

// Validate checks the request without touching Redis or S3.
func (r PutRequest) Validate() error {
	if err := CheckObjectOptions(r.Options); err != nil {
		return err
	}
	if err := ValidateSource(r.Source); err != nil {
		return err
	}
	if err := storage.ValidateObject(storage.Object{Bucket: r.Bucket, Key: r.Key}); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if r.PartSize != 0 && (r.PartSize < storage.MinPartSize || r.PartSize > storage.MaxPartSize) {
		return fmt.Errorf("%w: part size %d is outside S3's limits [%d, %d]", ErrInvalid, r.PartSize,
			storage.MinPartSize, storage.MaxPartSize)
	}
	return nil
}

// ValidateSource checks that src is a path relative to the volume root or an http(s) URL
// with a host and without credentials (user:password@ would be stored in Redis; workers send
// per-host headers instead). Whether a URL's host and addresses may be read is the workers'
// decision (--allow-url-host): an upload they refuse fails with the reason.
func ValidateSource(src string) error {
	if _, err := checkSource(src); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// checkSource checks a source as far as it can be checked without the volume or the network,
// and returns its URL when it is one. Errors never repeat a URL's credentials or query.
func checkSource(src string) (*url.URL, error) {
	if source.IsS3(src) {
		// The bucket and key are the workers' to find (S3 credentials live only there).
		_, err := source.ParseS3(src)
		return nil, err
	}
	if source.IsURL(src) || strings.Contains(src, "://") {
		return source.CheckURL(src)
	}
	_, err := source.CleanPath(src)
	return nil, err
}

// Put enqueues one upload as a migration of one and returns its ID.
func (c *Client) Put(ctx context.Context, r PutRequest) (UploadID, error) {
	if err := r.Validate(); err != nil {
		return UploadID{}, err
	}
	mid := state.NewMigrationID()
	ctx, span := c.trace.StartMigration(ctx, mid)
	id, err := c.put(ctx, mid, r)
	tracing.End(span, err)
	return id, err
}

func (c *Client) put(ctx context.Context, mid string, r PutRequest) (_ UploadID, err error) {
	if _, err := c.store.CreateMigration(ctx, state.NewMigration{ID: mid, Bucket: r.Bucket, Source: r.Source,
		Queue: tasks.QueueDefault}); err != nil {
		return UploadID{}, err
	}
	id := state.DeriveUploadID(mid, r.Bucket, r.Key)
	ctx, span := c.trace.StartUpload(ctx, id.String(), r.Bucket, r.Key)
	defer func() { tracing.End(span, err) }()
	if r.ContentType == "" && !source.IsS3(r.Source) {
		r.ContentType = storage.ContentTypeFor(r.Key) // an S3 source's own type is the worker's to read
	}
	if _, err := c.store.CreateUpload(ctx, state.NewUpload{ID: id, Source: r.Source, Bucket: r.Bucket, Key: r.Key,
		ContentType: r.ContentType, Metadata: r.Metadata, Options: state.ObjectOptions(r.Options),
		PartSize: r.PartSize, TraceID: tracing.TraceID(ctx)}); err != nil {
		return UploadID{}, err
	}
	if err := c.store.SealMigration(ctx, mid); err != nil {
		return UploadID{}, err
	}
	if _, err := c.queue.EnqueueContext(ctx, tasks.NewStartTask(ctx, id)); err != nil &&
		!errors.Is(err, asynq.ErrTaskIDConflict) {
		return UploadID{}, fmt.Errorf("client: enqueue start of %s: %w", id, err)
	}
	return UploadID(id), nil
}

// Upload returns an upload's record (for a compacted completed upload of a windowed
// migration, what its done entry kept).
func (c *Client) Upload(ctx context.Context, id UploadID) (Upload, error) {
	u, err := c.store.FindUpload(ctx, state.UploadID(id))
	return UploadFromRecord(u), err
}

// Migration returns a migration's record.
func (c *Client) Migration(ctx context.Context, id string) (Migration, error) {
	m, err := c.store.GetMigration(ctx, id)
	return MigrationFromRecord(m), err
}

// WaitUpload blocks until the upload is terminal or ctx ends, calling progress (if not nil)
// with the record whenever it changes. It listens to progress events and also polls, so a
// lost event only delays it.
func (c *Client) WaitUpload(ctx context.Context, id UploadID, progress func(Upload)) (Upload, error) {
	sub := c.rdb.Subscribe(ctx, state.EventsChannel)
	defer sub.Close()
	events := sub.Channel()
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	var last int64 = -1
	for {
		u, err := c.Upload(ctx, id)
		if err != nil {
			return u, err
		}
		if u.Version != last && progress != nil {
			progress(u)
		}
		last = u.Version
		if u.State.Terminal() {
			return u, nil
		}
		if err := waitForChange(ctx, events, poll.C, id.String()); err != nil {
			return u, err
		}
	}
}

// waitForChange returns when an event about upload id arrives or the poll ticks; events
// about other uploads on the shared channel are skipped without reading Redis.
func waitForChange(ctx context.Context, events <-chan *redis.Message, poll <-chan time.Time, id string) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-poll:
			return nil
		case msg, ok := <-events:
			if !ok {
				events = nil // subscription gone: fall back to polling
				continue
			}
			var ev struct {
				Upload string `json:"upload"`
			}
			if json.Unmarshal([]byte(msg.Payload), &ev) != nil || ev.Upload == id {
				return nil
			}
		}
	}
}

// UploadStatus is the JSON view of an upload, as `enqueuer status --json` prints it.
type UploadStatus struct {
	ID          string    `json:"id"`
	Migration   string    `json:"migration"`
	State       string    `json:"state"`
	Source      string    `json:"source"`
	Bucket      string    `json:"bucket"`
	Key         string    `json:"key"`
	Size        int64     `json:"size"`
	PartSize    int64     `json:"part_size,omitempty"`
	Parts       int       `json:"parts"`
	PartsDone   int       `json:"parts_done"`
	BytesDone   int64     `json:"bytes_done"`
	ETag        string    `json:"etag,omitempty"`
	Error       string    `json:"error,omitempty"`
	ContentType string    `json:"content_type,omitempty"`
	TraceID     string    `json:"trace_id,omitempty"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
}

// StatusOf returns the JSON view of an upload record.
func StatusOf(u Upload) UploadStatus {
	return UploadStatus{
		ID: u.ID.String(), Migration: u.ID.Migration, State: string(u.State), Source: source.RedactSource(u.Source), Bucket: u.Bucket,
		Key: u.Key, Size: u.Size, PartSize: u.PartSize, Parts: u.Parts, PartsDone: u.PartsDone, BytesDone: u.BytesDone,
		ETag: u.ETag, Error: u.Error, ContentType: u.ContentType, TraceID: u.TraceID,
		Created: u.Created, Updated: u.Updated,
	}
}

// MigrationStatus is the JSON view of a migration.
type MigrationStatus struct {
	ID         string    `json:"id"`
	Bucket     string    `json:"bucket"`
	Prefix     string    `json:"prefix,omitempty"`
	Source     string    `json:"source"`
	Sealed     bool      `json:"sealed"`
	Finished   bool      `json:"finished"`
	Total      int64     `json:"uploads_total"`
	Completed  int64     `json:"uploads_completed"`
	Failed     int64     `json:"uploads_failed"`
	Cancelled  int64     `json:"uploads_cancelled"`
	BytesTotal int64     `json:"bytes_total"`
	BytesDone  int64     `json:"bytes_done"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
	Paused     bool      `json:"paused,omitempty"`
	// PauseReason says why it is paused (a failure threshold, a destination error, a request).
	PauseReason string `json:"pause_reason,omitempty"`
	ReportTo    string `json:"report_to,omitempty"`
	// Fed: a feeder in the fleet creates the uploads, a window at a time (migrate --window);
	// FeedPaused says why it waits (Redis memory above the workers' --feed-max-redis-memory).
	Fed        bool   `json:"fed,omitempty"`
	FeedPaused string `json:"feed_paused,omitempty"`
}

// MigrationStatusOf returns the JSON view of a migration record.
func MigrationStatusOf(m Migration) MigrationStatus {
	return MigrationStatus{
		ID: m.ID, Bucket: m.Bucket, Prefix: m.Prefix, Source: source.RedactSource(m.Source), Sealed: m.Sealed, Finished: m.Finished(),
		Total: m.Total, Completed: m.Completed, Failed: m.Failed, Cancelled: m.Cancelled,
		BytesTotal: m.BytesTotal, BytesDone: m.BytesDone, Created: m.Created, Updated: m.Updated,
		Paused: m.Paused(), PauseReason: m.Pause.Reason, ReportTo: m.Controls.ReportTo,
		Fed: m.Fed, FeedPaused: m.FeedPaused,
	}
}
