package tasks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/partflow/partflow/internal/report"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/storage"
)

// MigrationPayload is the payload of a task about a whole migration.
type MigrationPayload struct {
	MigrationID string `json:"migration_id"`
}

// ReportTaskID is the task ID of a migration's migration:report task.
func ReportTaskID(migrationID string) string { return migrationID + ":report" }

// NewReportTask returns the migration:report task of a migration.
func NewReportTask(migrationID string) *asynq.Task {
	return asynq.NewTask(TypeReport, mustJSON(MigrationPayload{MigrationID: migrationID}),
		asynq.TaskID(ReportTaskID(migrationID)), asynq.Queue(QueueLow), asynq.MaxRetry(StartRetries),
		asynq.Timeout(time.Hour))
}

// ParseReportTo reads a report destination, s3://bucket/key.
func ParseReportTo(s string) (storage.Object, error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	bucket, key, _ := strings.Cut(rest, "/")
	obj := storage.Object{Bucket: bucket, Key: key}
	if !ok || key == "" || strings.HasSuffix(key, "/") {
		return obj, fmt.Errorf("tasks: report destination %q: want s3://bucket/key", s)
	}
	if err := storage.ValidateObject(obj); err != nil {
		return obj, fmt.Errorf("tasks: report destination %q: %w", s, err)
	}
	return obj, nil
}

// reportChunk is the size of the parts a report object is written in: one PutObject when
// the whole report fits, a multipart upload otherwise, so a worker holds one chunk at a time.
const reportChunk = 8 << 20

// HandleReportTask writes a finished migration's report (every upload, one row each) to its
// report object, then records that it did. Writing the same report again is harmless, so a
// redelivered task (or the janitor's backstop) may run it twice.
func (h *Handlers) HandleReportTask(ctx context.Context, t *asynq.Task) error {
	p, err := decode[MigrationPayload](h, t)
	if err != nil {
		return err
	}
	log := h.log.With("migration", p.MigrationID)
	m, err := h.store.GetMigration(ctx, p.MigrationID)
	if errors.Is(err, state.ErrNotFound) {
		log.Warn("ReportSkipped", "reason", "the migration has expired")
		return nil
	}
	if err != nil {
		return err
	}
	if m.Controls.ReportTo == "" || !m.Finished() {
		return nil // nothing asked for, or not finished yet (its last transition enqueues it again)
	}
	obj, err := ParseReportTo(m.Controls.ReportTo)
	if err != nil {
		log.Error("ReportFailed", "error", err)
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	log = log.With("bucket", obj.Bucket, "key", obj.Key)
	rows, err := h.writeReport(ctx, m.ID, obj)
	if err != nil {
		log.Warn("ReportFailed", "error", err)
		if storage.Permanent(err) {
			return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
		}
		return err
	}
	if err := h.store.MarkReportWritten(ctx, m.ID); err != nil {
		return err
	}
	log.Info("ReportWritten", "rows", rows)
	return nil
}

// writeReport streams the migration's report into obj and returns the number of rows.
func (h *Handlers) writeReport(ctx context.Context, migrationID string, obj storage.Object) (int64, error) {
	format := report.FormatForKey(obj.Key)
	out := &chunkedObject{ctx: ctx, s3: h.s3, obj: obj, opts: storage.ObjectOptions{ContentType: format.ContentType()}}
	w := report.NewWriter(out, format)
	var rows int64
	for u, err := range h.store.Uploads(ctx, migrationID) {
		if err == nil {
			err = w.Write(report.RowOf(u))
		}
		if err != nil {
			out.abort()
			return rows, err
		}
		rows++
	}
	if err := w.Flush(); err != nil {
		out.abort()
		return rows, err
	}
	return rows, out.close()
}

// chunkedObject is an io.Writer into an S3 object of unknown size: bytes gather in a chunk;
// a full chunk starts (or continues) a multipart upload; close sends a report that fits in
// one chunk as one PutObject.
type chunkedObject struct {
	ctx   context.Context
	s3    storage.Multipart
	obj   storage.Object
	opts  storage.ObjectOptions
	buf   []byte
	s3id  string
	parts []storage.Part
}

func (c *chunkedObject) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		take := min(len(p), reportChunk-len(c.buf))
		c.buf = append(c.buf, p[:take]...)
		p = p[take:]
		if len(c.buf) == reportChunk {
			if err := c.sendPart(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (c *chunkedObject) sendPart() error {
	if c.s3id == "" {
		id, err := c.s3.CreateUpload(c.ctx, c.obj, c.opts)
		if err != nil {
			return fmt.Errorf("tasks: report: start multipart upload: %w", err)
		}
		c.s3id = id
	}
	part, err := c.s3.UploadPart(c.ctx, c.obj, c.s3id, len(c.parts)+1, c.buf, c.opts)
	if err != nil {
		return fmt.Errorf("tasks: report: upload part %d: %w", len(c.parts)+1, err)
	}
	c.parts = append(c.parts, part)
	c.buf = make([]byte, 0, reportChunk) // the SDK may still read the old one (see uploadPart)
	return nil
}

func (c *chunkedObject) close() error {
	if c.s3id == "" {
		if _, err := c.s3.PutObject(c.ctx, c.obj, c.buf, c.opts); err != nil {
			return fmt.Errorf("tasks: report: put object: %w", err)
		}
		return nil
	}
	if len(c.buf) > 0 {
		if err := c.sendPart(); err != nil {
			c.abort()
			return err
		}
	}
	if _, err := c.s3.CompleteUpload(c.ctx, c.obj, c.s3id, c.parts, c.opts); err != nil {
		c.abort()
		return fmt.Errorf("tasks: report: complete multipart upload: %w", err)
	}
	return nil
}

func (c *chunkedObject) abort() {
	if c.s3id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), 30*time.Second)
	defer cancel()
	_ = c.s3.AbortUpload(ctx, c.obj, c.s3id) // else the janitor aborts it as an orphan
}

// reportIfFinished enqueues the migration's report task when the transition out of one of
// its uploads finished it and it asked for a report. Best effort: the janitor enqueues the
// report of a finished migration without one as a backstop.
func (h *Handlers) reportIfFinished(ctx context.Context, j job, out state.Outcome) {
	if !out.MigrationFinished {
		return
	}
	m, err := h.store.GetMigration(ctx, j.u.ID.Migration)
	if err != nil || m.Controls.ReportTo == "" || !m.Finished() || !m.ReportWritten.IsZero() {
		return
	}
	h.enqueueReport(ctx, m.ID)
}

func (h *Handlers) enqueueReport(ctx context.Context, migrationID string) {
	_, err := h.queue.EnqueueContext(context.WithoutCancel(ctx), NewReportTask(migrationID))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) && !errors.Is(err, asynq.ErrDuplicateTask) {
		h.log.Warn("ReportNotEnqueued", "migration", migrationID, "error", err)
	}
}

// reportBackstop enqueues the report of every finished migration that asked for one and has
// none written yet (its finishing transition's enqueue was lost). It returns how many.
func (h *Handlers) reportBackstop(ctx context.Context) (int, error) {
	n := 0
	err := h.eachMigration(ctx, func(m state.Migration) error {
		if m.Controls.ReportTo != "" && m.Finished() && m.ReportWritten.IsZero() {
			h.enqueueReport(ctx, m.ID)
			n++
		}
		return nil
	})
	return n, err
}
