package monitor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/tasks"
)

// Page sizes. Every list the monitor serves is one page of at most the maximum.
const (
	DefaultPageSize      = 50
	MaxPageSize          = 500
	DefaultPartsPageSize = 100
	MaxPartsPageSize     = 1000
)

// Page says which slice of a list a response holds.
type Page struct {
	Offset int64 `json:"offset"`
	Limit  int64 `json:"limit"`
	Total  int64 `json:"total"`
}

// MigrationView is a migration as the API shows it.
type MigrationView struct {
	client.MigrationStatus
	Queue string `json:"queue"` // of its part tasks
	// State sums the migration up: enqueuing (not every upload enqueued yet), running,
	// completed, failed (finished with failed uploads) or cancelled.
	State string `json:"state"`
	// RateBytesPerSec is the average rate since the migration was created (until its last
	// change once it has finished).
	RateBytesPerSec float64 `json:"rate_bytes_per_sec"`
	// UploadsStarted counts the uploads whose source was read and size fixed: bytes_total is
	// their bytes. UploadsNotStarted are the others: still waiting, or failed or cancelled
	// before their source was read (their bytes are unknown). Both are absent for a record
	// written before partflow counted them.
	UploadsStarted    *int64 `json:"uploads_started,omitempty"`
	UploadsNotStarted *int64 `json:"uploads_not_started,omitempty"`
}

// NotStarted is UploadsNotStarted for the templates: -1 when unknown.
func (v MigrationView) NotStarted() int64 {
	if v.UploadsNotStarted == nil {
		return -1
	}
	return *v.UploadsNotStarted
}

// Started is UploadsStarted for the templates: -1 when unknown.
func (v MigrationView) Started() int64 {
	if v.UploadsStarted == nil {
		return -1
	}
	return *v.UploadsStarted
}

// UploadView is an upload as the API shows it.
type UploadView struct {
	client.UploadStatus
	Version         int64   `json:"version"`
	RateBytesPerSec float64 `json:"rate_bytes_per_sec"` // average since it was enqueued
}

// PartView is one part of an upload.
type PartView struct {
	Number   int    `json:"number"`
	Size     int64  `json:"size"`
	Recorded bool   `json:"recorded"`
	ETag     string `json:"etag,omitempty"`
}

// TaskView is one of an upload's asynq tasks that is still in a queue.
type TaskView struct {
	ID            string     `json:"id"`
	Type          string     `json:"type"`
	Part          int        `json:"part,omitempty"`
	Queue         string     `json:"queue"`
	State         string     `json:"state"` // pending, active, scheduled, retry, archived, completed
	Retried       int        `json:"retried"`
	MaxRetry      int        `json:"max_retry"`
	LastError     string     `json:"last_error,omitempty"`
	NextProcessAt *time.Time `json:"next_process_at,omitempty"`
	URL           string     `json:"url"` // its page in asynqmon
	// Runnable says whether it can be run now (it is archived, retrying or scheduled).
	Runnable bool `json:"runnable"`
}

// MigrationList is the answer of GET /api/migrations.
type MigrationList struct {
	Migrations []MigrationView `json:"migrations"`
	Page
}

// MigrationDetail is the answer of GET /api/migrations/{id}: the migration and one page of
// its uploads (all of them, or with ?state=failed only the failed ones).
type MigrationDetail struct {
	Migration MigrationView `json:"migration"`
	Filter    string        `json:"filter"` // "all" or "failed"
	Uploads   []UploadView  `json:"uploads"`
	Page
}

// UploadDetail is the answer of GET /api/uploads/{id}: the upload, one page of its parts
// (Page counts parts) and the tasks of the upload still queued in asynq.
type UploadDetail struct {
	Upload UploadView `json:"upload"`
	Queue  string     `json:"queue"` // of its part tasks
	// SinglePut says the object went as one PutObject: it has no multipart parts to show.
	SinglePut bool `json:"single_put,omitempty"`
	// TraceURL is the upload's trace in the tracing UI (Config.TraceURLTemplate), if any.
	TraceURL string     `json:"trace_url,omitempty"`
	Parts    []PartView `json:"parts"`
	Tasks    []TaskView `json:"tasks"`
	Page
}

// httpError is an error with the status it should be answered with.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &httpError{status: http.StatusNotFound, msg: fmt.Sprintf(format, args...)}
}

// parsePage reads ?offset and ?limit; a limit above max is capped, a missing or zero one is def.
func parsePage(q url.Values, def, max int64) (offset, limit int64, err error) {
	if s := q.Get("offset"); s != "" {
		offset, err = strconv.ParseInt(s, 10, 64)
		if err != nil || offset < 0 || offset > 1<<40 {
			return 0, 0, badRequest("bad offset %q: want a number ≥ 0", s)
		}
	}
	limit = def
	if s := q.Get("limit"); s != "" {
		limit, err = strconv.ParseInt(s, 10, 64)
		if err != nil || limit < 0 {
			return 0, 0, badRequest("bad limit %q: want a number ≥ 1", s)
		}
		if limit == 0 {
			limit = def
		}
	}
	return offset, min(limit, max), nil
}

func migrationView(rec state.Migration, now time.Time) MigrationView {
	m := client.MigrationFromRecord(rec)
	v := MigrationView{MigrationStatus: client.MigrationStatusOf(m), Queue: m.Queue, State: client.MigrationState(m)}
	end := now
	if m.Finished() {
		end = m.Updated
	}
	v.RateBytesPerSec = rate(m.BytesDone, m.Created, end)
	if m.Started >= 0 {
		started, notStarted := m.Started, max(m.Total-m.Started, 0)
		v.UploadsStarted, v.UploadsNotStarted = &started, &notStarted
	}
	return v
}

func uploadView(rec state.Upload, now time.Time) UploadView {
	u := client.UploadFromRecord(rec)
	end := now
	if u.State.Terminal() {
		end = u.Updated
	}
	return UploadView{UploadStatus: client.StatusOf(u), Version: u.Version, RateBytesPerSec: rate(u.BytesDone, u.Created, end)}
}

func rate(bytes int64, from, to time.Time) float64 {
	d := to.Sub(from).Seconds()
	if bytes <= 0 || from.IsZero() || d <= 0 {
		return 0
	}
	return float64(bytes) / d
}

// listMigrations loads one page of migrations, newest first.
func (m *Monitor) listMigrations(ctx context.Context, q url.Values) (MigrationList, error) {
	offset, limit, err := parsePage(q, DefaultPageSize, MaxPageSize)
	if err != nil {
		return MigrationList{}, err
	}
	ms, total, err := m.store.ListMigrations(ctx, offset, limit)
	if err != nil {
		return MigrationList{}, err
	}
	now := time.Now()
	out := MigrationList{Migrations: make([]MigrationView, 0, len(ms)), Page: Page{Offset: offset, Limit: limit, Total: total}}
	for _, mg := range ms {
		out.Migrations = append(out.Migrations, migrationView(mg, now))
	}
	return out, nil
}

// migrationDetail loads a migration and one page of its uploads.
func (m *Monitor) migrationDetail(ctx context.Context, id string, q url.Values) (MigrationDetail, error) {
	if err := state.ValidateMigrationID(id); err != nil {
		return MigrationDetail{}, badRequest("%v", err)
	}
	offset, limit, err := parsePage(q, DefaultPageSize, MaxPageSize)
	if err != nil {
		return MigrationDetail{}, err
	}
	mg, err := m.store.GetMigration(ctx, id)
	if errors.Is(err, state.ErrNotFound) {
		return MigrationDetail{}, notFound("migration %s not found (or expired)", id)
	} else if err != nil {
		return MigrationDetail{}, err
	}
	out := MigrationDetail{Filter: "all", Page: Page{Offset: offset, Limit: limit}}
	var ids []state.UploadID
	switch f := q.Get("state"); f {
	case "", "all":
		if ids, err = m.store.MigrationUploads(ctx, id, offset, limit); err != nil {
			return MigrationDetail{}, err
		}
		if out.Total, err = m.store.CountMigrationUploads(ctx, id); err != nil {
			return MigrationDetail{}, err
		}
	case "failed":
		out.Filter = f
		if ids, out.Total, err = m.store.FailedUploads(ctx, id, offset, limit); err != nil {
			return MigrationDetail{}, err
		}
	default:
		return MigrationDetail{}, badRequest("bad state filter %q: want all or failed", f)
	}
	ups, err := m.store.GetUploads(ctx, ids)
	if err != nil {
		return MigrationDetail{}, err
	}
	now := time.Now()
	out.Migration = migrationView(mg, now)
	out.Uploads = make([]UploadView, 0, len(ups))
	for _, u := range ups {
		out.Uploads = append(out.Uploads, uploadView(u, now))
	}
	return out, nil
}

// uploadDetail loads an upload, one page of its parts and its queued tasks.
func (m *Monitor) uploadDetail(ctx context.Context, raw string, q url.Values) (UploadDetail, error) {
	id, err := state.ParseUploadID(raw)
	if err != nil {
		return UploadDetail{}, badRequest("%v", err)
	}
	offset, limit, err := parsePage(q, DefaultPartsPageSize, MaxPartsPageSize)
	if err != nil {
		return UploadDetail{}, err
	}
	u, err := m.store.FindUpload(ctx, id)
	if errors.Is(err, state.ErrNotFound) {
		return UploadDetail{}, notFound("upload %s not found (or expired)", id)
	} else if err != nil {
		return UploadDetail{}, err
	}
	out := UploadDetail{Upload: uploadView(u, time.Now()),
		Page: Page{Offset: offset, Limit: limit, Total: int64(u.Parts)}, Parts: []PartView{}, Tasks: []TaskView{}}
	mg, err := m.store.GetMigration(ctx, id.Migration)
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return UploadDetail{}, err
	}
	out.Queue = tasks.PartQueue(mg)
	out.SinglePut = u.State == state.Completed && u.S3UploadID == ""
	out.TraceURL = traceURL(m.cfg.TraceURLTemplate, u.TraceID)
	if n := min(limit, int64(u.Parts)-offset); n > 0 && !out.SinglePut {
		slots, err := m.store.PartSlots(ctx, id, int(offset)+1, int(n))
		if err != nil {
			return UploadDetail{}, err
		}
		for _, s := range slots {
			out.Parts = append(out.Parts, PartView{Number: s.Number, Size: partSize(u, s.Number), Recorded: s.Recorded(), ETag: s.ETag})
		}
	}
	if u.State != state.Completed {
		out.Tasks = m.uploadTasks(u, out.Queue, out.Parts)
	}
	return out, nil
}

// partSize returns the length of part n of u (the last one may be shorter).
func partSize(u state.Upload, n int) int64 {
	if u.PartSize <= 0 || u.Parts <= 0 {
		return 0
	}
	if n == u.Parts {
		return u.Size - int64(u.Parts-1)*u.PartSize
	}
	return u.PartSize
}

// maxPartTaskLookups bounds the asynq lookups of one upload page (one per part task).
const maxPartTaskLookups = DefaultPartsPageSize

// uploadTasks looks up the upload's start and finalize tasks and the tasks of the parts shown
// that are not recorded yet (the first maxPartTaskLookups of them). Tasks no longer queued
// (done, or never enqueued) are left out.
func (m *Monitor) uploadTasks(u state.Upload, partQueue string, parts []PartView) []TaskView {
	recorded := make(map[int]bool, len(parts))
	shown := make(map[int]bool, len(parts))
	for _, p := range parts {
		shown[p.Number] = true
		recorded[p.Number] = p.Recorded
	}
	lookups := 0
	pending := func(n int) bool {
		if shown[n] && !recorded[n] && lookups < maxPartTaskLookups {
			lookups++
			return true
		}
		return false
	}
	ws := tasks.UploadTasks(u, partQueue, pending)
	out := []TaskView{}
	for _, w := range ws {
		info, err := m.inspector.GetTaskInfo(w.Queue, w.ID)
		if err != nil {
			if !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
				m.log.Warn("TaskLookupFailed", "task_id", w.ID, "queue", w.Queue, "error", err)
			}
			continue
		}
		out = append(out, taskView(info, w.Part))
	}
	return out
}

func taskView(info *asynq.TaskInfo, part int) TaskView {
	v := TaskView{ID: info.ID, Type: info.Type, Part: part, Queue: info.Queue, State: info.State.String(),
		Retried: info.Retried, MaxRetry: info.MaxRetry, LastError: info.LastErr, URL: asynqmonTaskURL(info.Queue, info.ID)}
	if !info.NextProcessAt.IsZero() {
		t := info.NextProcessAt
		v.NextProcessAt = &t
	}
	switch info.State {
	case asynq.TaskStateArchived, asynq.TaskStateRetry, asynq.TaskStateScheduled:
		v.Runnable = true
	}
	return v
}

// asynqmonTaskURL links a task's page in asynqmon.
func asynqmonTaskURL(queue, id string) string {
	return AsynqmonPath + "/queues/" + url.PathEscape(queue) + "/tasks/" + url.PathEscape(id)
}

// asynqmonQueueURL links a queue's page in asynqmon, showing tasks in state status ("" for
// asynqmon's default tab).
func asynqmonQueueURL(queue, status string) string {
	u := AsynqmonPath + "/queues/" + url.PathEscape(queue)
	if status != "" {
		u += "?status=" + url.QueryEscape(status)
	}
	return u
}

// isPartflowTask reports whether a task ID is one of partflow's deterministic upload task IDs.
func isPartflowTask(taskID string) bool {
	up, rest, ok := strings.Cut(taskID, ":")
	if !ok {
		return false
	}
	if _, err := state.ParseUploadID(up); err != nil {
		return false
	}
	if rest == "start" || rest == "finalize" {
		return true
	}
	n, ok := strings.CutPrefix(rest, "part:")
	if !ok {
		return false
	}
	p, err := strconv.Atoi(n)
	return err == nil && p > 0 && strconv.Itoa(p) == n
}
