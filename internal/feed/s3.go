package feed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/partflow/partflow/internal/filter"
	"github.com/partflow/partflow/internal/s3source"
	"github.com/partflow/partflow/internal/state"
)

// KindS3 is a prefix of the workers' S3 source store, listed by the feeder itself.
const KindS3 = "s3"

// MaxScan is the most source keys one List of an S3 prefix reads: a filter that keeps few of
// them still lets the feeder checkpoint its position (the last key read) every MaxScan keys.
const MaxScan = 10000

// Mux opens each kind of listing with its own Opener (a worker with a volume opens feed
// files, one with a source store S3 prefixes).
type Mux map[string]Opener

var _ Opener = Mux{}

// Open opens spec with the Opener of its kind.
func (m Mux) Open(ctx context.Context, spec state.FeedSpec) (Listing, error) {
	o, ok := m[spec.Kind]
	if !ok {
		need := map[string]string{KindFile: "--volume-root", KindS3: "--source-s3-endpoint"}[spec.Kind]
		if need == "" {
			return nil, fmt.Errorf("feed: listing kind %q is not known to this worker", spec.Kind)
		}
		return nil, fmt.Errorf("feed: a %q listing needs the worker's %s", spec.Kind, need)
	}
	return o.Open(ctx, spec)
}

// S3 opens listings of a prefix of the source store (kind "s3"). Its position is the last
// source key read, relative to the prefix ("" at the start), so a feeder killed mid-listing
// goes on after the last batch it created, and memory stays one page however many keys.
type S3 struct {
	Store s3source.Store
}

var _ Opener = S3{}

// Open checks spec (its location, its filter) and returns its listing.
func (o S3) Open(_ context.Context, spec state.FeedSpec) (Listing, error) {
	if spec.Kind != KindS3 {
		return nil, fmt.Errorf("feed: listing kind %q is not an S3 prefix", spec.Kind)
	}
	if o.Store == nil {
		return nil, errors.New("feed: an S3 prefix listing needs the worker's source store (--source-s3-endpoint)")
	}
	if _, err := s3source.NewLister(o.Store, spec.Location, 0); err != nil {
		return nil, fmt.Errorf("feed: %w", err)
	}
	l := &s3Listing{store: o.Store, spec: spec}
	if len(spec.Filter) > 0 {
		var cfg filter.Config
		if err := json.Unmarshal(spec.Filter, &cfg); err != nil {
			return nil, fmt.Errorf("feed: filter of %s: %w", spec.Location, err)
		}
		flt, err := filter.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("feed: filter of %s: %w", spec.Location, err)
		}
		l.filter = flt
	}
	return l, nil
}

type s3Listing struct {
	store  s3source.Store
	spec   state.FeedSpec
	filter *filter.Filter
}

func (l *s3Listing) Close() error { return nil }

// List reads the source keys after pos and returns up to n of those the filter keeps, as
// uploads into the spec's bucket under its prefix. It stops early after MaxScan keys, so the
// position moves on even where the filter drops long runs of keys.
func (l *s3Listing) List(ctx context.Context, pos string, n int) ([]Item, string, bool, error) {
	if n <= 0 {
		return nil, pos, false, fmt.Errorf("feed: list %d items", n)
	}
	lister, err := s3source.NewLister(l.store, l.spec.Location, min(n, 1000))
	if err != nil {
		return nil, pos, false, fmt.Errorf("feed: %w", err)
	}
	var items []Item
	next, scanned := pos, 0
	for e, err := range lister.List(ctx, pos) {
		if err != nil {
			return nil, pos, false, fmt.Errorf("feed: %w", err)
		}
		next = e.Key
		scanned++
		if l.filter == nil || l.keep(e) {
			items = append(items, Item{Source: e.Source, Bucket: l.spec.Bucket, Key: l.spec.Prefix + e.Key,
				Options: l.spec.Options, Fingerprint: e.Source + " etag=" + e.ETag})
		}
		if len(items) == n || scanned == MaxScan {
			return items, next, false, nil
		}
	}
	return items, next, true, nil
}

func (l *s3Listing) keep(e s3source.Entry) bool {
	ok, _ := l.filter.Keep(filter.Entry{Path: e.Key, Size: e.Size, ModTime: e.ModTime})
	return ok
}
