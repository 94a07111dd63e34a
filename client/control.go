package client

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/partflow/partflow/internal/report"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/storage"
	"github.com/partflow/partflow/tasks"
)

// MigrationControls steer a running migration.
type MigrationControls struct {
	// MaxFailures pauses the migration once more than this many uploads failed (0: no limit).
	MaxFailures int64
	// MaxFailuresPercent pauses it once more than this percentage of its uploads failed
	// (0: no limit). Counted against the uploads enqueued so far.
	MaxFailuresPercent float64
	// ReportTo is an object, s3://bucket/key, the fleet writes the migration's complete report
	// to when it is finished: CSV for a key ending in .csv, JSON Lines otherwise.
	ReportTo string
	// BandwidthLimit caps the bytes per second the fleet sends for this migration (0: none
	// beyond the workers' own caps).
	BandwidthLimit int64
}

func (c MigrationControls) validate() error {
	switch {
	case c.MaxFailures < 0:
		return fmt.Errorf("%w: max failures %d is negative", ErrInvalid, c.MaxFailures)
	case c.MaxFailuresPercent < 0 || c.MaxFailuresPercent > 100 || math.IsNaN(c.MaxFailuresPercent):
		return fmt.Errorf("%w: max failures %v%%: want 0 to 100", ErrInvalid, c.MaxFailuresPercent)
	case c.BandwidthLimit < 0:
		return fmt.Errorf("%w: bandwidth limit %d is negative", ErrInvalid, c.BandwidthLimit)
	}
	if c.ReportTo != "" {
		if _, err := ParseReportTo(c.ReportTo); err != nil {
			return err
		}
	}
	return nil
}

func (c MigrationControls) state() state.Controls {
	return state.Controls{MaxFailures: c.MaxFailures, MaxFailuresPercent: c.MaxFailuresPercent, ReportTo: c.ReportTo,
		BandwidthLimit: c.BandwidthLimit}
}

// ParseMaxFailures reads a failure threshold as --max-failures takes it: a count ("25") or a
// percentage of the migration's uploads ("5%").
func ParseMaxFailures(s string) (MigrationControls, error) {
	var c MigrationControls
	var err error
	if p, ok := strings.CutSuffix(s, "%"); ok {
		c.MaxFailuresPercent, err = strconv.ParseFloat(p, 64)
		if err == nil && (c.MaxFailuresPercent <= 0 || c.MaxFailuresPercent > 100) {
			err = errors.New("out of range")
		}
	} else {
		c.MaxFailures, err = strconv.ParseInt(s, 10, 64)
		if err == nil && c.MaxFailures < 1 {
			err = errors.New("out of range")
		}
	}
	if err != nil {
		return MigrationControls{}, fmt.Errorf("%w: max failures %q: want a count of at least 1 or a percentage (0%% < P <= 100%%)", ErrInvalid, s)
	}
	return c, nil
}

// ParseReportTo checks a report destination, s3://bucket/key.
func ParseReportTo(s string) (storage.Object, error) {
	return tasks.ParseReportTo(s)
}

// errNotMigration: Pause takes a migration ID.
var errNotMigration = errors.New("pause takes a migration ID, not an upload ID")

// Pause pauses a migration: workers leave its uploads as they are (a task of a paused
// migration ends without doing anything and without spending a retry; parts already in
// flight finish) until Resume. It reports whether this call paused it.
func (c *Client) Pause(ctx context.Context, id, reason string) (bool, error) {
	if state.IsUploadID(id) {
		return false, fmt.Errorf("%w: %w", ErrInvalid, errNotMigration)
	}
	if reason == "" {
		reason = "paused by request"
	}
	return c.store.PauseMigration(ctx, id, reason)
}

// resumePaused un-pauses a paused migration and re-enqueues the work of its live uploads: a
// start task for each planned or uploading one (which sends only the missing parts) and the
// finalizer of each completing one. Its failed uploads are resumed by the caller.
func (c *Client) resumePaused(ctx context.Context, m state.Migration) (int, error) {
	if !m.Paused() {
		return 0, nil
	}
	if _, err := c.store.UnpauseMigration(ctx, m.ID); err != nil {
		return 0, err
	}
	n := 0
	for id, err := range c.store.LiveUploads(ctx, m.ID) {
		if err != nil {
			return n, err
		}
		u, err := c.store.GetUpload(ctx, id)
		if errors.Is(err, state.ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		t := tasks.NewStartTask(ctx, id)
		if u.State == state.Completing {
			t = tasks.NewFinalizeTask(ctx, id, u.Size)
		} else if u.State.Terminal() {
			continue
		}
		if err := c.enqueue(ctx, t); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// ReportRow is one upload in a migration's complete report.
type ReportRow = report.Row

// Report yields every upload of a migration (in the order they were created) as a report
// row, reading them a page at a time so memory stays flat; with states, only uploads in one
// of them. Sources are redacted.
func (c *Client) Report(ctx context.Context, id string, states ...string) iter.Seq2[ReportRow, error] {
	return func(yield func(ReportRow, error) bool) {
		if _, err := c.store.GetMigration(ctx, id); err != nil {
			yield(ReportRow{}, err)
			return
		}
		for u, err := range c.store.Uploads(ctx, id) {
			if err != nil {
				yield(ReportRow{}, err)
				return
			}
			if len(states) > 0 && !slices.Contains(states, string(u.State)) {
				continue
			}
			if !yield(report.RowOf(u), nil) {
				return
			}
		}
	}
}

// reportIfFinished enqueues the report task of a migration that asked for one and finished
// as it was sealed (every upload terminal before the last was enqueued): no upload's
// transition finished it, so no worker enqueues the report.
func (c *Client) reportIfFinished(ctx context.Context, id string) error {
	m, err := c.store.GetMigration(ctx, id)
	if err != nil {
		return err
	}
	if m.Controls.ReportTo == "" || !m.Finished() {
		return nil
	}
	return c.enqueue(ctx, tasks.NewReportTask(id))
}
