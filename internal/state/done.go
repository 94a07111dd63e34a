package state

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// A completed upload of a fed migration keeps no record: compact (scripts/lib.lua) appends
// one entry to the migration's done list and drops the upload's hashes and index entry. An
// entry is tab-separated text:
//
//	<upload name (16 hex)> \t <key> \t <size> \t <ETag without its quotes> \t <ms from creation to completion> [\t <bucket>]
//
// with the bucket only when it is not the migration's, and the key and bucket escaped
// (backslash, tab and newline as \\, \t and \n), so any key splits back exactly. Source,
// timestamps, part counts and trace are dropped: they are what makes a record ~900 B.

// DoneRecord is the compact record a completed upload of a fed migration leaves.
type DoneRecord struct {
	ID       UploadID
	Bucket   string // the migration's when the entry names none
	Key      string
	Size     int64
	ETag     string // as S3 answered it, quoted
	Duration int64  // milliseconds from creation to completion
}

// Upload is the record a done entry stands for: a completed upload with what the entry
// kept (no source, timestamps or part counts).
func (r DoneRecord) Upload() Upload {
	return Upload{ID: r.ID, Bucket: r.Bucket, Key: r.Key, Size: r.Size, BytesDone: r.Size, ETag: r.ETag,
		State: Completed, Compacted: true, CompactedDuration: time.Duration(r.Duration) * time.Millisecond}
}

// parseDone reads one done-list entry of migration mid whose bucket is bucket.
func parseDone(mid, bucket, e string) (DoneRecord, error) {
	f := strings.Split(e, "\t")
	if len(f) < 5 || !uploadNamePattern.MatchString(f[0]) {
		return DoneRecord{}, fmt.Errorf("state: done entry of %s: malformed %q", mid, e)
	}
	r := DoneRecord{ID: UploadID{Migration: mid, Name: f[0]}, Bucket: bucket, Key: unescapeDone(f[1]), ETag: f[3]}
	if r.ETag != "" && !strings.HasPrefix(r.ETag, `"`) {
		r.ETag = `"` + r.ETag + `"`
	}
	r.Size, _ = strconv.ParseInt(f[2], 10, 64)
	r.Duration, _ = strconv.ParseInt(f[4], 10, 64)
	if len(f) > 5 {
		r.Bucket = unescapeDone(f[5])
	}
	return r, nil
}

// unescapeDone undoes compact's escaping of \, tab and newline.
func unescapeDone(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// DoneRecords returns up to limit compact records of a migration's completed uploads, in
// completion order, from offset, and how many there are.
func (s *Store) DoneRecords(ctx context.Context, migrationID string, offset, limit int64) ([]DoneRecord, int64, error) {
	key := migrationDoneKey(migrationID)
	var lr *redis.StringSliceCmd
	var ln *redis.IntCmd
	var bucket *redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		ln = p.LLen(ctx, key)
		lr = p.LRange(ctx, key, offset, offset+limit-1)
		bucket = p.HGet(ctx, migrationKey(migrationID), "bucket")
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, fmt.Errorf("state: done records of %s: %w", migrationID, err)
	}
	out := make([]DoneRecord, 0, len(lr.Val()))
	for _, e := range lr.Val() {
		r, err := parseDone(migrationID, bucket.Val(), e)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, r)
	}
	return out, ln.Val(), nil
}

// donePage is how many done entries one round trip reads.
const donePage = 2000

// Done yields a migration's compact records of completed uploads, a page at a time.
func (s *Store) Done(ctx context.Context, migrationID string) iter.Seq2[DoneRecord, error] {
	return func(yield func(DoneRecord, error) bool) {
		for offset := int64(0); ; offset += donePage {
			recs, _, err := s.DoneRecords(ctx, migrationID, offset, donePage)
			if err != nil {
				yield(DoneRecord{}, err)
				return
			}
			for _, r := range recs {
				if !yield(r, nil) {
					return
				}
			}
			if len(recs) < donePage {
				return
			}
		}
	}
}

// FindUpload returns an upload's record or, for a completed upload of a fed migration that
// was compacted, what its done entry kept (Upload.Compacted). Finding a done entry reads the
// migration's done list until it is found (linear in the list's length: for status and the
// monitor, not for handlers, which use GetUpload).
func (s *Store) FindUpload(ctx context.Context, id UploadID) (Upload, error) {
	u, err := s.GetUpload(ctx, id)
	if !errors.Is(err, ErrNotFound) {
		return u, err
	}
	compact, cerr := s.rdb.HGet(ctx, migrationKey(id.Migration), "compact").Result()
	if errors.Is(cerr, redis.Nil) || (cerr == nil && compact != "1") {
		return u, err
	} else if cerr != nil {
		return Upload{}, fmt.Errorf("state: find upload %s: %w", id, cerr)
	}
	prefix := id.Name + "\t"
	for r, derr := range s.doneMatching(ctx, id.Migration, prefix) {
		if derr != nil {
			return Upload{}, derr
		}
		return r.Upload(), nil
	}
	return u, err
}

// doneMatching yields the done entries of a migration that start with prefix.
func (s *Store) doneMatching(ctx context.Context, migrationID, prefix string) iter.Seq2[DoneRecord, error] {
	return func(yield func(DoneRecord, error) bool) {
		key := migrationDoneKey(migrationID)
		bucket, err := s.rdb.HGet(ctx, migrationKey(migrationID), "bucket").Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			yield(DoneRecord{}, fmt.Errorf("state: done records of %s: %w", migrationID, err))
			return
		}
		for offset := int64(0); ; offset += donePage {
			raw, err := s.rdb.LRange(ctx, key, offset, offset+donePage-1).Result()
			if err != nil {
				yield(DoneRecord{}, fmt.Errorf("state: done records of %s: %w", migrationID, err))
				return
			}
			for _, e := range raw {
				if !strings.HasPrefix(e, prefix) {
					continue
				}
				r, err := parseDone(migrationID, bucket, e)
				if !yield(r, err) {
					return
				}
			}
			if len(raw) < donePage {
				return
			}
		}
	}
}
