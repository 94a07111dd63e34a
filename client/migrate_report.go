package client

import (
	"context"
	"iter"
	"time"

	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/state"
)

// Migration states as MigrationState names them (a migration has no state field of its own:
// it follows from its counters).
const (
	MigrationEnqueuing = "enqueuing" // not every item is enqueued yet (or the enqueuer stopped: run it again)
	MigrationRunning   = "running"   // every item is enqueued; some uploads are not finished
	MigrationCompleted = "completed" // every upload completed
	MigrationFailed    = "failed"    // finished, and some uploads failed
	MigrationCancelled = "cancelled" // finished, none failed, and some were cancelled
)

// MigrationStates lists the states MigrationState returns.
var MigrationStates = []string{MigrationEnqueuing, MigrationRunning, MigrationCompleted, MigrationFailed, MigrationCancelled}

// MigrationState names where a migration is.
func MigrationState(m Migration) string {
	switch {
	case !m.Sealed:
		return MigrationEnqueuing
	case !m.Finished():
		return MigrationRunning
	case m.Failed > 0:
		return MigrationFailed
	case m.Cancelled > 0:
		return MigrationCancelled
	}
	return MigrationCompleted
}

// WaitPollInterval is how often WaitMigration reads the migration record. A migration's
// uploads publish far too many events to follow one by one, so it polls one small hash.
const WaitPollInterval = 500 * time.Millisecond

// WaitMigration blocks until the migration is finished (sealed, and every upload in it
// terminal) or ctx ends, calling progress (if not nil) with the record whenever it changed.
// A migration whose enqueuer stopped before sealing it never finishes: run the migration
// again (or bound ctx).
func (c *Client) WaitMigration(ctx context.Context, id string, progress func(Migration)) (Migration, error) {
	tick := time.NewTicker(WaitPollInterval)
	defer tick.Stop()
	var last Migration
	for first := true; ; first = false {
		m, err := c.Migration(ctx, id)
		if err != nil {
			return m, err
		}
		if progress != nil && (first || m != last) {
			progress(m)
		}
		last = m
		if m.Finished() {
			return m, nil
		}
		select {
		case <-ctx.Done():
			return m, ctx.Err()
		case <-tick.C:
		}
	}
}

// FailedUpload is one failed upload of a migration, with the reason.
type FailedUpload struct {
	ID     string    `json:"id"`
	Bucket string    `json:"bucket,omitempty"`
	Key    string    `json:"key,omitempty"`
	Source string    `json:"source,omitempty"`
	Error  string    `json:"error"`
	Failed time.Time `json:"failed,omitzero"`
}

// failurePage is how many failed uploads Failures reads per round trip.
const failurePage = 1000

// Failures yields every failed upload of a migration, oldest failure first, reading them a
// page at a time from partflow's own failure index (asynq's archive keeps only 10,000 tasks
// per queue; this has no limit). A failed upload whose record expired before the migration
// is yielded with its ID only.
func (c *Client) Failures(ctx context.Context, id string) iter.Seq2[FailedUpload, error] {
	return func(yield func(FailedUpload, error) bool) {
		for offset := int64(0); ; {
			ids, _, err := c.store.FailedUploads(ctx, id, offset, failurePage)
			if err != nil {
				yield(FailedUpload{}, err)
				return
			}
			if len(ids) == 0 {
				return
			}
			ups, err := c.store.GetUploads(ctx, ids)
			if err != nil {
				yield(FailedUpload{}, err)
				return
			}
			byID := make(map[state.UploadID]state.Upload, len(ups))
			for _, u := range ups {
				byID[u.ID] = u
			}
			for _, uid := range ids {
				f := FailedUpload{ID: uid.String(), Error: "(the upload's record has expired)"}
				if u, ok := byID[uid]; ok {
					f = FailedUpload{ID: uid.String(), Bucket: u.Bucket, Key: u.Key, Source: source.RedactSource(u.Source), Error: u.Error,
						Failed: u.Updated}
				}
				if !yield(f, nil) {
					return
				}
			}
			offset += int64(len(ids))
		}
	}
}

// MigrationReport is a migration's summary: counts, bytes, duration and every failed upload.
// It is the JSON document `enqueuer status ID --json` prints for a migration.
type MigrationReport struct {
	MigrationStatus
	State        string `json:"state"`
	Skipped      int64  `json:"uploads_skipped"` // of the completed: the object was already there
	BytesSkipped int64  `json:"bytes_skipped"`
	// Duration runs from the migration's creation to its last change (to now while it is
	// not finished).
	Duration        float64        `json:"duration_seconds"`
	BytesPerSecond  float64        `json:"bytes_per_second"`
	FailuresTotal   int64          `json:"failures_total"`
	Failures        []FailedUpload `json:"failures"`
	durationPrecise time.Duration
}

// Elapsed returns the report's duration.
func (r MigrationReport) Elapsed() time.Duration { return r.durationPrecise }

// ReportOf returns a migration's report without its failures (see Failures).
func ReportOf(m Migration, now time.Time) MigrationReport {
	end := m.Updated
	if !m.Finished() || end.IsZero() {
		end = now
	}
	d := max(end.Sub(m.Created), 0)
	return MigrationReport{
		MigrationStatus: MigrationStatusOf(m), State: MigrationState(m), Skipped: m.Skipped,
		BytesSkipped: m.BytesSkipped, Duration: d.Seconds(),
		BytesPerSecond: float64(m.BytesDone-m.BytesSkipped) / max(d.Seconds(), 1e-3), FailuresTotal: m.Failed,
		Failures: []FailedUpload{}, durationPrecise: d,
	}
}

// MigrationReport returns a migration's report with every failed upload in memory; for a
// migration with very many failures, range over Failures instead.
func (c *Client) MigrationReport(ctx context.Context, id string) (MigrationReport, error) {
	m, err := c.Migration(ctx, id)
	if err != nil {
		return MigrationReport{}, err
	}
	r := ReportOf(m, time.Now())
	for f, err := range c.Failures(ctx, id) {
		if err != nil {
			return r, err
		}
		r.Failures = append(r.Failures, f)
	}
	r.FailuresTotal = int64(len(r.Failures))
	return r, nil
}

// ListMigrations returns up to limit migrations, most recently changed first, starting at
// offset, and how many there are. Migrations that expired drop out of the listing as they
// are met (so the next page starts at offset + the number returned).
func (c *Client) ListMigrations(ctx context.Context, offset, limit int64) ([]Migration, int64, error) {
	ms, total, err := c.store.ListMigrations(ctx, offset, limit)
	return migrationsFromRecords(ms), total, err
}
