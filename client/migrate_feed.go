package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/partflow/partflow/internal/feed"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/tasks"
)

// migrateFed is Migrate with a window: it writes the items to a feed file on the shared
// volume, makes the migration a fed one and enqueues its feeder. It does not handle (handled
// false) a migration that existed before without a feed: that one carries on as it began.
func (c *Client) migrateFed(ctx context.Context, r *MigrateRequest, created bool, begin time.Time) (MigrateResult, bool, error) {
	m, err := c.store.GetMigration(ctx, r.ID)
	if err != nil {
		return MigrateResult{}, false, err
	}
	if !created && !m.Fed {
		return MigrateResult{}, false, nil
	}
	res := MigrateResult{ID: r.ID, MigrationCreated: created, Fed: true}
	w, err := feed.NewWriter(r.FeedVolume)
	if err != nil {
		return res, true, fmt.Errorf("client: migration %s: %w", r.ID, err)
	}
	lastProgress := time.Now()
	for it, err := range r.Items {
		if err == nil {
			it, err = r.Resolve(it)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) || !r.SkipInvalid {
				w.Abort()
				return res, true, err
			}
			res.Invalid++
			if r.OnInvalid != nil {
				r.OnInvalid(err)
			}
			continue
		}
		if !r.keys.keep(it) {
			res.Deduped++
			continue
		}
		if err := w.Add(feed.Item{Source: it.Source, Bucket: it.Bucket, Key: it.Key, ContentType: it.ContentType,
			Metadata: it.Metadata, Options: state.ObjectOptions(it.Options), Fingerprint: it.Fingerprint}); err != nil {
			w.Abort()
			return res, true, fmt.Errorf("client: migration %s: %w", r.ID, err)
		}
		res.Items++
		res.Bytes += it.Size
		if r.Progress != nil && time.Since(lastProgress) >= r.ProgressInterval {
			res.Duration = time.Since(begin)
			r.Progress(res)
			lastProgress = time.Now()
		}
	}
	location, err := w.Commit()
	if err != nil {
		return res, true, fmt.Errorf("client: migration %s: %w", r.ID, err)
	}
	res.FeedFile = location
	spec, err := c.store.SetFeed(ctx, r.ID, state.FeedSpec{Kind: feed.KindFile, Location: location, Window: r.Window,
		PartSize: r.PartSize, SkipExisting: r.SkipExisting})
	if err != nil {
		return res, true, err
	}
	if spec.Location != location {
		return res, true, fmt.Errorf("%w: migration %s is fed from %s, and these items differ; give another ID",
			ErrInvalid, r.ID, spec.Location)
	}
	// The next run of its feeder: a live run, if any, finds itself overtaken and stops.
	if err := c.enqueue(ctx, tasks.NewFeedTask(r.ID, m.FeedRun+1, 0)); err != nil {
		return res, true, err
	}
	res.Duration = time.Since(begin)
	if r.Progress != nil {
		r.Progress(res)
	}
	return res, true, nil
}
