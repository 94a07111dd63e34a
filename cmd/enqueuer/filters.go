package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"iter"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/filter"
)

// repeated is a flag that may be given more than once; each value is kept, in order.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// filterFlags are migrate's --include/--exclude/size/age/--files-from flags (internal/filter
// has their semantics, rclone's).
type filterFlags struct {
	include, exclude           repeated
	minSize, maxSize           string
	newerThan, olderThan, from string
}

func defineFilterFlags(fs *flag.FlagSet) *filterFlags {
	f := &filterFlags{}
	fs.Var(&f.include, "include", "migrate only keys matching this glob (rclone syntax: *, **, ?, [..], {a,b}; repeatable; anything no --include matches is left out)")
	fs.Var(&f.exclude, "exclude", "leave out keys matching this glob; a pattern ending in / leaves out a directory (repeatable; --include rules are tried first)")
	fs.StringVar(&f.minSize, "min-size", "", "leave out files smaller than this, e.g. 1MiB (needs --source DIR or s3://bucket/prefix/)")
	fs.StringVar(&f.maxSize, "max-size", "", "leave out files larger than this (needs --source DIR or s3://bucket/prefix/)")
	fs.StringVar(&f.newerThan, "newer-than", "", "migrate only files modified at or after this: an age (7d, 36h, 2w) or a date (2006-01-02, RFC 3339) (needs --source DIR or s3://bucket/prefix/)")
	fs.StringVar(&f.olderThan, "older-than", "", "migrate only files modified at or before this: an age or a date (needs --source DIR or s3://bucket/prefix/)")
	fs.StringVar(&f.from, "files-from", "", "migrate only the keys listed in this file, one per line (# comments); not with --include/--exclude")
	return f
}

// build returns the filter (nil when no flag asks for one) and a canonical description of it
// that goes into the migration's ID, so the same directory with other filters is another
// migration. Errors name the flag.
func (f *filterFlags) build(now time.Time, manifest bool) (*filter.Filter, string, error) {
	var cfg filter.Config
	cfg.Include, cfg.Exclude = f.include, f.exclude
	for _, s := range []struct {
		name, in string
		out      *int64
	}{{"--min-size", f.minSize, &cfg.MinSize}, {"--max-size", f.maxSize, &cfg.MaxSize}} {
		if s.in == "" {
			continue
		}
		n, err := humanize.ParseBytes(s.in)
		if _, bare := strconv.ParseFloat(strings.TrimSpace(s.in), 64); err != nil || n == 0 || bare == nil {
			// A bare number is refused: rclone reads it as KiB, most tools as bytes.
			return nil, "", fmt.Errorf("bad %s %q: want a size with its unit, such as 512KiB or 1GB (KiB, MiB, GiB are binary; KB, MB, GB decimal)", s.name, s.in)
		}
		*s.out = int64(n)
	}
	for _, t := range []struct {
		name, in string
		out      *time.Time
	}{{"--newer-than", f.newerThan, &cfg.NewerThan}, {"--older-than", f.olderThan, &cfg.OlderThan}} {
		if t.in == "" {
			continue
		}
		v, err := filter.ParseTime(t.in, now)
		if err != nil {
			return nil, "", fmt.Errorf("bad %s: %w", t.name, err)
		}
		*t.out = v
	}
	if f.from != "" {
		fh, err := os.Open(f.from)
		if err != nil {
			return nil, "", fmt.Errorf("--files-from: %w", err)
		}
		cfg.FilesFrom, err = filter.ReadFilesFrom(fh)
		fh.Close()
		if err != nil {
			return nil, "", fmt.Errorf("--files-from %s: %w", f.from, err)
		}
	}
	flt, err := filter.New(cfg)
	if err != nil {
		return nil, "", err
	}
	if !flt.Active() {
		return nil, "", nil
	}
	if manifest && flt.NeedsInfo() {
		return nil, "", errors.New("--min-size, --max-size, --newer-than and --older-than need --source DIR or s3://bucket/prefix/: a manifest's lines carry no size or time")
	}
	// The description: the flags as given (an age such as 7d as written, not the time it
	// resolves to), so a re-run with the same filters minutes later carries on the same
	// migration.
	h := sha256.New()
	fmt.Fprintf(h, "include=%q exclude=%q min=%d max=%d", cfg.Include, cfg.Exclude, cfg.MinSize, cfg.MaxSize)
	fmt.Fprintf(h, " newer=%q older=%q files=%q", f.newerThan, f.olderThan, cfg.FilesFrom)
	return flt, "filter:" + hex.EncodeToString(h.Sum(nil))[:12], nil
}

// filtered yields the items flt keeps, counting the others in *dropped (reset at the start of
// every iteration: each pass over the items counts afresh).
func filtered(items iter.Seq2[client.MigrationItem, error], flt *filter.Filter, dropped *int64) iter.Seq2[client.MigrationItem, error] {
	return func(yield func(client.MigrationItem, error) bool) {
		*dropped = 0
		for it, err := range items {
			if err == nil {
				if ok, _ := flt.Keep(filter.Entry{Path: it.Key, Size: it.Size, ModTime: it.ModTime}); !ok {
					*dropped++
					continue
				}
			}
			if !yield(it, err) {
				return
			}
		}
	}
}
