package main

import (
	"encoding/json"
	"errors"
	"io"
	"time"

	"github.com/partflow/partflow/client"
)

// eventWriter prints --json-lines: one JSON object per line on stdout for each thing that
// happens (an item found invalid, the enqueue pass, each change of an upload or a
// migration, each failed upload of a finished migration), ending with a "done" (or "error")
// event. Every event has "event" (its kind, below) and "time" (RFC 3339). The README lists
// the schema; TestJSONLinesSchema checks it. Errors are sticky: see err.
type eventWriter struct {
	enc *json.Encoder
	err error
}

func newEventWriter(w io.Writer) *eventWriter {
	enc := json.NewEncoder(w) // one line per Encode: no indent
	enc.SetEscapeHTML(false)
	return &eventWriter{enc: enc}
}

// Event kinds.
const (
	eventInvalid   = "invalid"   // migrate: an item failed validation
	eventSkipped   = "skipped"   // migrate --source DIR: an entry that is not a regular file
	eventPlanned   = "planned"   // migrate: the validation pass is over
	eventEnqueued  = "enqueued"  // put, migrate: the uploads are enqueued
	eventUpload    = "upload"    // put --wait, status UPLOAD_ID: the upload changed
	eventMigration = "migration" // migrate --wait, status MIGRATION_ID: its counters changed
	eventFailed    = "failed_upload"
	eventDone      = "done"  // the command's last event
	eventError     = "error" // the command stopped on an error (then no done)
)

type eventHeader struct {
	Event string    `json:"event"`
	Time  time.Time `json:"time"`
}

func header(kind string) eventHeader { return eventHeader{Event: kind, Time: time.Now().UTC()} }

type invalidEvent struct {
	eventHeader
	Where string `json:"where,omitempty"` // a manifest line ("line 7") or a path
	Error string `json:"error"`
}

type skippedEvent struct {
	eventHeader
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

type plannedEvent struct {
	eventHeader
	MigrationID string `json:"migration_id"`
	Valid       int64  `json:"valid"`
	Invalid     int64  `json:"invalid"`
	Bytes       int64  `json:"bytes"` // of the items whose size is known (a directory's)
	DryRun      bool   `json:"dry_run"`
}

type enqueuedEvent struct {
	eventHeader
	MigrationID string `json:"migration_id"`
	UploadID    string `json:"upload_id,omitempty"` // put only
	Items       int64  `json:"items"`
	Created     int64  `json:"uploads_created"`
	Existing    int64  `json:"uploads_existing"`
}

type uploadEvent struct {
	eventHeader
	UploadID    string `json:"upload_id"`
	MigrationID string `json:"migration_id"`
	State       string `json:"state"`
	Bucket      string `json:"bucket"`
	Key         string `json:"key"`
	Size        int64  `json:"size"` // 0 until a worker has read the source (planned)
	Parts       int    `json:"parts"`
	PartsDone   int    `json:"parts_done"`
	BytesDone   int64  `json:"bytes_done"`
	ETag        string `json:"etag,omitempty"`
	Error       string `json:"error,omitempty"`
	TraceID     string `json:"trace_id,omitempty"`
}

type migrationEvent struct {
	eventHeader
	MigrationID string `json:"migration_id"`
	State       string `json:"state"` // enqueuing, running, completed, failed, cancelled
	Finished    bool   `json:"finished"`
	Total       int64  `json:"uploads_total"`
	Completed   int64  `json:"uploads_completed"`
	Failed      int64  `json:"uploads_failed"`
	Cancelled   int64  `json:"uploads_cancelled"`
	Skipped     int64  `json:"uploads_skipped"`
	BytesTotal  int64  `json:"bytes_total"` // of the uploads whose size is known so far
	BytesDone   int64  `json:"bytes_done"`
}

type failedEvent struct {
	eventHeader
	UploadID string `json:"upload_id"`
	Bucket   string `json:"bucket,omitempty"`
	Key      string `json:"key,omitempty"`
	Error    string `json:"error"`
}

type doneEvent struct {
	eventHeader
	ID       string `json:"id,omitempty"`    // the upload or migration
	State    string `json:"state,omitempty"` // its state at the end
	ExitCode int    `json:"exit_code"`
}

type errorEvent struct {
	eventHeader
	Error    string `json:"error"`
	ExitCode int    `json:"exit_code"`
}

func (e *eventWriter) emit(v any) {
	if e.err == nil {
		e.err = e.enc.Encode(v)
	}
}

func (e *eventWriter) invalid(err error) {
	ev := invalidEvent{eventHeader: header(eventInvalid), Error: err.Error()}
	var ie *client.ItemError
	if errors.As(err, &ie) {
		ev.Where, ev.Error = ie.Where, ie.Err.Error()
	}
	e.emit(ev)
}

func (e *eventWriter) skipped(path, reason string) {
	e.emit(skippedEvent{eventHeader: header(eventSkipped), Path: path, Reason: reason})
}

func (e *eventWriter) planned(id string, p client.MigrationPlan, dryRun bool) {
	e.emit(plannedEvent{eventHeader: header(eventPlanned), MigrationID: id, Valid: p.Valid, Invalid: p.Invalid,
		Bytes: p.Bytes, DryRun: dryRun})
}

func (e *eventWriter) enqueuedMigration(r client.MigrateResult) {
	e.emit(enqueuedEvent{eventHeader: header(eventEnqueued), MigrationID: r.ID, Items: r.Items, Created: r.Created,
		Existing: r.Existing})
}

func (e *eventWriter) enqueuedUpload(id client.UploadID) {
	e.emit(enqueuedEvent{eventHeader: header(eventEnqueued), MigrationID: id.Migration, UploadID: id.String(),
		Items: 1, Created: 1})
}

func (e *eventWriter) upload(u client.Upload) {
	e.emit(uploadEvent{eventHeader: header(eventUpload), UploadID: u.ID.String(), MigrationID: u.ID.Migration,
		State: string(u.State), Bucket: u.Bucket, Key: u.Key, Size: u.Size, Parts: u.Parts, PartsDone: u.PartsDone,
		BytesDone: u.BytesDone, ETag: u.ETag, Error: u.Error, TraceID: u.TraceID})
}

func (e *eventWriter) migration(m client.Migration) {
	e.emit(migrationEvent{eventHeader: header(eventMigration), MigrationID: m.ID, State: client.MigrationState(m),
		Finished: m.Finished(), Total: m.Total, Completed: m.Completed, Failed: m.Failed, Cancelled: m.Cancelled,
		Skipped: m.Skipped, BytesTotal: m.BytesTotal, BytesDone: m.BytesDone})
}

func (e *eventWriter) failed(f client.FailedUpload) {
	e.emit(failedEvent{eventHeader: header(eventFailed), UploadID: f.ID, Bucket: f.Bucket, Key: f.Key, Error: f.Error})
}

func (e *eventWriter) done(id, st string, code int) {
	e.emit(doneEvent{eventHeader: header(eventDone), ID: id, State: st, ExitCode: code})
}

func (e *eventWriter) error(msg string, code int) {
	e.emit(errorEvent{eventHeader: header(eventError), Error: msg, ExitCode: code})
}
