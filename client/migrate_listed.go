package client

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/partflow/partflow/internal/feed"
	"github.com/partflow/partflow/internal/filter"
	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/tasks"
)

// ListingFilter is what a listing the fleet reads (MigrateRequest.SourcePrefix) keeps, with
// rclone's semantics: Include and Exclude globs tried in order against the key below the
// prefix, sizes in bytes (0: no bound), modification times (zero: no bound), or only the
// keys FilesFrom names. The zero value keeps everything.
type ListingFilter struct {
	Include, Exclude     []string
	MinSize, MaxSize     int64
	NewerThan, OlderThan time.Time
	FilesFrom            []string
}

// NormalizeS3Prefix checks s3://bucket/prefix as a listing's source and returns it the way a
// migration records it: a non-empty prefix is a folder, so it ends in "/" (s3://b/logs lists
// the keys below logs/, as a directory walk of logs would, not logs2/x).
func NormalizeS3Prefix(prefix string) (string, error) {
	loc, err := source.ParseS3Prefix(prefix)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if loc.Key != "" && !strings.HasSuffix(loc.Key, "/") {
		loc.Key += "/"
	}
	if strings.HasPrefix(loc.Key, "/") {
		return "", fmt.Errorf("%w: %s: the prefix must not start with /", ErrInvalid, prefix)
	}
	return loc.String(), nil
}

// validateListed checks what a migration of a listed S3 prefix needs besides validate's.
func (r *MigrateRequest) validateListed() error {
	p, err := NormalizeS3Prefix(r.SourcePrefix)
	if err != nil {
		return err
	}
	r.SourcePrefix = p
	switch {
	case r.Items != nil:
		return fmt.Errorf("%w: give Items or SourcePrefix, not both", ErrInvalid)
	case r.Window <= 0:
		return fmt.Errorf("%w: an S3 prefix is listed by the fleet's feeder, which needs a positive Window", ErrInvalid)
	}
	if err := checkObjectOptions(r.Options); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if _, err := filter.New(filter.Config(r.Filter)); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if r.Source == "" {
		r.Source = r.SourcePrefix
	}
	return nil
}

// migrateListed is Migrate of an S3 prefix: it makes the migration a fed one whose listing
// is the prefix (listed by the feeder in the fleet, which has the source store's
// credentials) and enqueues its feeder. A re-run enqueues the next feeder run, which goes on
// after the checkpoint (the last key listed into a batch).
func (c *Client) migrateListed(ctx context.Context, r *MigrateRequest, created bool, begin time.Time) (MigrateResult, error) {
	m, err := c.store.GetMigration(ctx, r.ID)
	if err != nil {
		return MigrateResult{}, err
	}
	if !created && !m.Fed {
		return MigrateResult{}, fmt.Errorf("%w: migration %s exists and is not fed from a listing; give another ID", ErrInvalid, r.ID)
	}
	spec := state.FeedSpec{Kind: feed.KindS3, Location: r.SourcePrefix, Window: r.Window, PartSize: r.PartSize,
		SkipExisting: r.SkipExisting, Bucket: r.Bucket, Prefix: r.Prefix, Options: state.ObjectOptions(r.Options)}
	if r.Filter.active() {
		if spec.Filter, err = json.Marshal(filter.Config(r.Filter)); err != nil {
			return MigrateResult{}, fmt.Errorf("client: migration %s: filter: %w", r.ID, err)
		}
	}
	got, err := c.store.SetFeed(ctx, r.ID, spec)
	if err != nil {
		return MigrateResult{}, err
	}
	if got.Kind != spec.Kind || got.Location != spec.Location {
		return MigrateResult{}, fmt.Errorf("%w: migration %s is fed from %s, not %s; give another ID",
			ErrInvalid, r.ID, got.Location, spec.Location)
	}
	if err := c.enqueue(ctx, tasks.NewFeedTask(r.ID, m.FeedRun+1, 0)); err != nil {
		return MigrateResult{}, err
	}
	res := MigrateResult{ID: r.ID, MigrationCreated: created, Fed: true, Listing: r.SourcePrefix, Duration: time.Since(begin)}
	if r.Progress != nil {
		r.Progress(res)
	}
	return res, nil
}

func (f ListingFilter) active() bool {
	return len(f.Include)+len(f.Exclude) > 0 || f.MinSize > 0 || f.MaxSize > 0 || !f.NewerThan.IsZero() ||
		!f.OlderThan.IsZero() || f.FilesFrom != nil
}
