package state

import (
	"context"
	"fmt"
	"iter"
	"strconv"
	"time"
)

// Controls are what steers a running migration besides its uploads: a failure threshold,
// where the fleet writes its report, and a bandwidth cap. Zero values mean "none".
type Controls struct {
	// MaxFailures pauses the migration once more than this many of its uploads failed.
	MaxFailures int64
	// MaxFailuresPercent pauses it once more than this percentage of its uploads failed.
	MaxFailuresPercent float64
	// ReportTo is the object (s3://bucket/key) the fleet writes the migration's report to
	// when it is finished.
	ReportTo string
	// BandwidthLimit caps the bytes per second the whole fleet sends for this migration.
	BandwidthLimit int64
}

func (c Controls) fields() []any {
	return []any{"max_failures", strconv.FormatInt(c.MaxFailures, 10),
		"max_failures_pct", strconv.FormatFloat(c.MaxFailuresPercent, 'f', -1, 64),
		"report_to", c.ReportTo, "bwlimit", strconv.FormatInt(c.BandwidthLimit, 10)}
}

func controlsOf(h map[string]string) Controls {
	f := fields(h)
	pct, _ := strconv.ParseFloat(h["max_failures_pct"], 64)
	return Controls{MaxFailures: f.int("max_failures"), MaxFailuresPercent: pct, ReportTo: h["report_to"],
		BandwidthLimit: f.int("bwlimit")}
}

// Pause is whether a migration is paused, and why.
type Pause struct {
	Paused bool
	Reason string
	Since  time.Time
}

func pauseOf(h map[string]string) Pause {
	return Pause{Paused: h["paused"] == "1", Reason: h["pause_reason"], Since: fields(h).time("paused_at")}
}

// Configure sets a migration's controls. A failure threshold already passed pauses the
// migration at its next failure.
func (s *Store) Configure(ctx context.Context, id string, c Controls) error {
	n, err := s.run(ctx, configureMigration, uploadKeys(UploadID{Migration: id}), c.fields()...).Int()
	if err != nil {
		return fmt.Errorf("state: configure migration %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("state: configure migration %s: %w", id, ErrNotFound)
	}
	return nil
}

// PauseMigration pauses a migration with a reason people read: handlers leave its uploads as
// they are until it is un-paused. It reports whether this call paused it (false when it was
// paused already; the first reason is kept).
func (s *Store) PauseMigration(ctx context.Context, id, reason string) (bool, error) {
	return s.setPaused(ctx, id, "1", reason)
}

// UnpauseMigration lets a paused migration's uploads move again (resume re-enqueues them).
// It reports whether the migration was paused.
func (s *Store) UnpauseMigration(ctx context.Context, id string) (bool, error) {
	return s.setPaused(ctx, id, "0", "")
}

func (s *Store) setPaused(ctx context.Context, id, paused, reason string) (bool, error) {
	if err := ValidateMigrationID(id); err != nil {
		return false, err
	}
	n, err := s.run(ctx, pauseMigrationScript, uploadKeys(UploadID{Migration: id}), paused, reason).Int()
	if err != nil {
		return false, fmt.Errorf("state: pause migration %s: %w", id, err)
	}
	if n < 0 {
		return false, fmt.Errorf("state: migration %s: %w", id, ErrNotFound)
	}
	return n == 1, nil
}

// MigrationPaused reads only whether a migration is paused: one small command, for handlers
// (and the feeder) to check before they start work. A migration that does not exist is not
// paused.
func (s *Store) MigrationPaused(ctx context.Context, id string) (Pause, error) {
	g, err := s.MigrationGate(ctx, id)
	return g.Pause, err
}

// Gate is what a handler checks before it starts work on an upload of a migration.
type Gate struct {
	Pause
	BandwidthLimit int64 // the migration's fleet-wide cap in bytes per second; 0: none
}

// MigrationGate reads a migration's pause and bandwidth cap in one small command.
func (s *Store) MigrationGate(ctx context.Context, id string) (Gate, error) {
	v, err := s.rdb.HMGet(ctx, migrationKey(id), "paused", "pause_reason", "paused_at", "bwlimit").Result()
	if err != nil {
		return Gate{}, fmt.Errorf("state: migration %s: %w", id, err)
	}
	f := fields{"t": asString(v[2]), "bw": asString(v[3])}
	return Gate{Pause: Pause{Paused: asString(v[0]) == "1", Reason: asString(v[1]), Since: f.time("t")},
		BandwidthLimit: f.int("bw")}, nil
}

// CountAttempt counts a task attempt on an upload that ended in an error (retried or not);
// reports show the count. An upload that no longer exists is left alone.
func (s *Store) CountAttempt(ctx context.Context, id UploadID) error {
	if err := s.run(ctx, countAttemptScript, uploadKeys(id)).Err(); err != nil {
		return fmt.Errorf("state: count attempt of %s: %w", id, err)
	}
	return nil
}

// MarkReportWritten records that a migration's report object was written (at the server's
// time), so the janitor stops enqueueing it.
func (s *Store) MarkReportWritten(ctx context.Context, id string) error {
	now, err := s.Now(ctx)
	if err != nil {
		return err
	}
	return s.run(ctx, configureMigration, uploadKeys(UploadID{Migration: id}),
		"report_written", strconv.FormatInt(now.UnixMilli(), 10)).Err()
}

// uploadsPage is how many uploads Uploads reads per round trip.
const uploadsPage = 500

// Uploads yields every upload of a migration, a page at a time (one ZRANGE and one pipeline
// of HGETALLs per page), so memory stays flat however many there are: the uploads with a
// record in creation order, then the compacted completed uploads of a fed migration in
// completion order (see FindUpload; an upload that completes while Uploads runs may show
// twice, once live and once completed). Uploads whose record expired are left out.
func (s *Store) Uploads(ctx context.Context, migrationID string) iter.Seq2[Upload, error] {
	return func(yield func(Upload, error) bool) {
		for offset := int64(0); ; offset += uploadsPage {
			ids, err := s.MigrationUploads(ctx, migrationID, offset, uploadsPage)
			if err != nil {
				yield(Upload{}, err)
				return
			}
			ups, err := s.GetUploads(ctx, ids)
			if err != nil {
				yield(Upload{}, err)
				return
			}
			for _, u := range ups {
				if !yield(u, nil) {
					return
				}
			}
			if len(ids) < uploadsPage {
				break
			}
		}
		for r, err := range s.Done(ctx, migrationID) {
			if !yield(r.Upload(), err) || err != nil {
				return
			}
		}
	}
}

// LiveUploads yields the IDs of a migration's live (not terminal) uploads, a page at a time.
func (s *Store) LiveUploads(ctx context.Context, migrationID string) iter.Seq2[UploadID, error] {
	return func(yield func(UploadID, error) bool) {
		for offset := int64(0); ; offset += uploadsPage {
			raw, err := s.rdb.ZRange(ctx, migrationLiveKey(migrationID), offset, offset+uploadsPage-1).Result()
			if err == nil {
				var ids []UploadID
				if ids, err = parseUploadIDs(raw); err == nil {
					for _, id := range ids {
						if !yield(id, nil) {
							return
						}
					}
				}
			}
			if err != nil {
				yield(UploadID{}, fmt.Errorf("state: live uploads of %s: %w", migrationID, err))
				return
			}
			if len(raw) < uploadsPage {
				return
			}
		}
	}
}

// Known reports whether s is one of the upload states.
func (s State) Known() bool {
	switch s {
	case Planned, Uploading, Completing, Completed, Failed, Cancelled:
		return true
	}
	return false
}
