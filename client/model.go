package client

import (
	"fmt"
	"time"

	"github.com/partflow/partflow/internal/state"
)

// This file holds the client's own model of what it returns: uploads, migrations, their
// states and IDs, and object options. The records in Redis (internal/state) convert to it at
// the client's boundary, so a caller outside this module can name every type it receives.

// State is where an upload is in its life: planned → uploading → completing → completed, or
// failed or cancelled.
type State string

// The states of an upload.
const (
	StatePlanned    State = State(state.Planned)    // recorded; its start task has not planned it yet
	StateUploading  State = State(state.Uploading)  // planned: parts are being uploaded
	StateCompleting State = State(state.Completing) // every part is in; S3 assembles the object
	StateCompleted  State = State(state.Completed)  // the object is in S3
	StateFailed     State = State(state.Failed)     // given up, with the reason in Upload.Error (Resume retries it)
	StateCancelled  State = State(state.Cancelled)  // cancelled by request
)

// Terminal reports whether no work is left for an upload in state s.
func (s State) Terminal() bool { return state.State(s).Terminal() }

// UploadID names an upload: "<migration ID>.<name>".
type UploadID struct {
	Migration string
	Name      string
}

// String returns the upload ID in its text form.
func (id UploadID) String() string { return id.Migration + "." + id.Name }

// ParseUploadID parses the text form of an upload ID; errors wrap ErrInvalid.
func ParseUploadID(s string) (UploadID, error) {
	id, err := state.ParseUploadID(s)
	if err != nil {
		return UploadID{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return UploadID(id), nil
}

// IsUploadID reports whether s looks like an upload ID rather than a migration ID (the
// commands that take either use it).
func IsUploadID(s string) bool { return state.IsUploadID(s) }

// Upload is an upload as Upload and WaitUpload return it.
type Upload struct {
	ID          UploadID
	Source      string // as given: a URL may carry a presigned query (StatusOf redacts it)
	Bucket      string
	Key         string
	ContentType string
	Metadata    map[string]string
	Options     ObjectOptions

	// Known once the upload is planned (state uploading or later).
	Size     int64
	PartSize int64
	Parts    int // 1 for an object sent as one PutObject

	State     State
	Version   int64 // bumped by every change of the record
	PartsDone int
	BytesDone int64
	Error     string // why it failed
	ETag      string // of the completed object
	// SkipExisting asked for an identical object in place to count as done; Skipped says it
	// did (the upload completed without uploading).
	SkipExisting bool
	Skipped      bool
	Created      time.Time
	Updated      time.Time
	StateSince   time.Time // when it entered State (zero while planned)
	// TraceID is the upload's OpenTelemetry trace (32 hex digits) when its enqueue was traced
	// and sampled; empty otherwise.
	TraceID string
}

// UploadFromRecord converts an upload's record. It is for partflow's own packages that read
// records directly (the monitor); outside this module, Client.Upload returns uploads.
func UploadFromRecord(u state.Upload) Upload {
	return Upload{
		ID: UploadID(u.ID), Source: u.Source, Bucket: u.Bucket, Key: u.Key, ContentType: u.ContentType,
		Metadata: u.Metadata, Options: ObjectOptions(u.Options), Size: u.Size, PartSize: u.PartSize, Parts: u.Parts,
		State: State(u.State), Version: u.Version, PartsDone: u.PartsDone, BytesDone: u.BytesDone, Error: u.Error,
		ETag: u.ETag, SkipExisting: u.SkipExisting, Skipped: u.Skipped, Created: u.Created, Updated: u.Updated,
		StateSince: u.StateSince, TraceID: u.TraceID,
	}
}

// Migration is a migration: what it migrates and its counters. It has no state field of its
// own: MigrationState names where it is.
type Migration struct {
	ID        string
	Bucket    string
	Prefix    string
	Source    string // what was migrated: a directory, a manifest, or the source of a single put
	Queue     string // the asynq queue of its part tasks
	Sealed    bool   // every upload has been enqueued
	Total     int64  // uploads
	Completed int64  // uploads completed
	Failed    int64  // uploads failed
	Cancelled int64  // uploads cancelled
	Skipped   int64  // of Completed: completed because an identical object existed (SkipExisting)
	// Started counts the uploads whose source was read and size fixed; -1 for a record
	// written before partflow counted them.
	Started      int64
	BytesTotal   int64 // of the uploads started so far
	BytesDone    int64
	BytesSkipped int64 // the part of BytesDone that was already in place (SkipExisting)
	Created      time.Time
	Updated      time.Time
	// Pause says whether workers leave its uploads alone, and why (see Client.Pause).
	Pause MigrationPause
	// Controls: its failure threshold, report object and bandwidth cap.
	Controls MigrationControls
	// ReportWritten is when the fleet wrote its report object (zero until then).
	ReportWritten time.Time
	// Fed: a feeder in the fleet creates the uploads, a window at a time (MigrateRequest.Window);
	// its completed uploads keep only a compact record. FeedPaused says why the feeder waits.
	Fed        bool
	FeedPaused string
}

// MigrationPause is whether a migration is paused, why and since when.
type MigrationPause struct {
	Paused bool
	Reason string
	Since  time.Time
}

// Paused reports whether the migration is paused.
func (m Migration) Paused() bool { return m.Pause.Paused }

// Finished reports whether the migration is sealed and every upload in it is terminal.
func (m Migration) Finished() bool { return m.Sealed && m.Completed+m.Failed+m.Cancelled >= m.Total }

// MigrationFromRecord converts a migration's record. It is for partflow's own packages that
// read records directly (the monitor); outside this module, Client.Migration returns
// migrations.
func MigrationFromRecord(m state.Migration) Migration {
	return Migration{
		ID: m.ID, Bucket: m.Bucket, Prefix: m.Prefix, Source: m.Source, Queue: m.Queue, Sealed: m.Sealed,
		Total: m.Total, Completed: m.Completed, Failed: m.Failed, Cancelled: m.Cancelled, Skipped: m.Skipped,
		Started: m.Started, BytesTotal: m.BytesTotal, BytesDone: m.BytesDone, BytesSkipped: m.BytesSkipped,
		Created: m.Created, Updated: m.Updated,
		Pause: MigrationPause{Paused: m.Pause.Paused, Reason: m.Pause.Reason, Since: m.Pause.Since},
		Controls: MigrationControls{MaxFailures: m.Controls.MaxFailures, MaxFailuresPercent: m.Controls.MaxFailuresPercent,
			ReportTo: m.Controls.ReportTo, BandwidthLimit: m.Controls.BandwidthLimit},
		ReportWritten: m.ReportWritten, Fed: m.Fed, FeedPaused: m.FeedPaused,
	}
}

func migrationsFromRecords(ms []state.Migration) []Migration {
	out := make([]Migration, len(ms))
	for i, m := range ms {
		out[i] = MigrationFromRecord(m)
	}
	return out
}

// ObjectOptions are an object's S3 options beyond content type and metadata: server-side
// encryption (SSE-S3, SSE-KMS, or SSE-C with a key named, never given: workers read it from
// their --sse-c-key-dir), storage class, tags, Cache-Control, Content-Encoding and
// Content-Disposition. They are kept on the upload record. The JSON names are a manifest
// line's.
type ObjectOptions struct {
	// SSE is "", "AES256" (SSE-S3), "aws:kms" (SSE-KMS) or "SSE-C".
	SSE string `json:"sse,omitempty"`
	// SSEKMSKeyID is the KMS key of SSE-KMS; empty: the account's default key.
	SSEKMSKeyID string `json:"sse_kms_key_id,omitempty"`
	// SSECKey names the workers' file holding the SSE-C key; never the key itself.
	SSECKey            string            `json:"sse_c_key,omitempty"`
	StorageClass       string            `json:"storage_class,omitempty"`
	Tags               map[string]string `json:"tags,omitempty"`
	CacheControl       string            `json:"cache_control,omitempty"`
	ContentEncoding    string            `json:"content_encoding,omitempty"`
	ContentDisposition string            `json:"content_disposition,omitempty"`
}

// IsZero reports whether no option is set.
func (o ObjectOptions) IsZero() bool { return state.ObjectOptions(o).IsZero() }

// Merge returns o with every option that over sets replaced by over's (an item's options
// over a migration's defaults). Setting SSE replaces the whole encryption setting, and Tags
// replace the tags as a whole.
func (o ObjectOptions) Merge(over ObjectOptions) ObjectOptions {
	return ObjectOptions(state.ObjectOptions(o).Merge(state.ObjectOptions(over)))
}
