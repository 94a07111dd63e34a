package state

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// A fed migration is created with a feed spec: its items are not all written at once but
// created by a feeder task in the fleet, at most Window unfinished at a time, from a listing
// the workers can read. The migration record holds the spec and the feed's checkpoint (the
// listing's position after the last batch), which alone keeps an item from being created
// twice: a completed upload of a fed migration is compacted (see scripts/lib.lua) and leaves
// only a short entry in the migration's done list.

// FeedSpec says where a fed migration's items come from and how they are fed.
type FeedSpec struct {
	// Kind of listing: "file" (JSON Lines of resolved items on the shared volume) or "s3" (a
	// prefix of the workers' S3 source store, listed by the feeder).
	Kind string `json:"kind"`
	// Location of the listing: for "file", a path relative to the volume root; for "s3",
	// s3://bucket/prefix.
	Location string `json:"location"`
	// Window is the most unfinished uploads the migration keeps in Redis.
	Window int `json:"window"`
	// PartSize and SkipExisting are given to every upload the feeder creates.
	PartSize     int64 `json:"part_size,omitempty"`
	SkipExisting bool  `json:"skip_existing,omitempty"`
	// Bucket, Prefix and Options make a listed source key an upload (kind "s3", whose
	// listing yields source keys rather than resolved items): the destination bucket, the
	// key prefix put in front of each key, every upload's object options.
	Bucket  string        `json:"bucket,omitempty"`
	Prefix  string        `json:"prefix,omitempty"`
	Options ObjectOptions `json:"options,omitzero"`
	// Filter is what the listing keeps, opaque here (the listing's kind reads it).
	Filter json.RawMessage `json:"filter,omitempty"`
}

// Feed is what a feeder run reads when it claims the feed.
type Feed struct {
	Spec     FeedSpec
	Seq      int64  // how many batches were created; the checkpoint's version
	Position string // the listing's position after the last batch ("" at the start)
	Done     bool   // the listing ended: the migration is sealed
	Stopped  bool   // the migration was cancelled: feed no more
	Live     int64  // unfinished uploads now
	Paused   string // why the feeder last waited ("" when it did not)
}

// ErrStale is returned to a feeder run that another run has overtaken.
var ErrStale = fmt.Errorf("state: feed: %w", errStale)

var errStale = fmt.Errorf("a later feeder run holds the feed")

// SetFeed makes an existing migration a fed one (its completed uploads are compacted), unless
// it is one already; it reports the spec the migration has. A migration that has another
// spec keeps it (the caller refuses the new one).
func (s *Store) SetFeed(ctx context.Context, migrationID string, spec FeedSpec) (FeedSpec, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return FeedSpec{}, fmt.Errorf("state: feed spec: %w", err)
	}
	key := migrationKey(migrationID)
	if _, err := s.rdb.HSetNX(ctx, key, "feed", string(b)).Result(); err != nil {
		return FeedSpec{}, fmt.Errorf("state: set feed of %s: %w", migrationID, err)
	}
	if err := s.rdb.HSet(ctx, key, "compact", "1").Err(); err != nil {
		return FeedSpec{}, fmt.Errorf("state: set feed of %s: %w", migrationID, err)
	}
	raw, err := s.rdb.HGet(ctx, key, "feed").Result()
	if err != nil {
		return FeedSpec{}, fmt.Errorf("state: set feed of %s: %w", migrationID, err)
	}
	var got FeedSpec
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		return FeedSpec{}, fmt.Errorf("state: feed spec of %s: %w", migrationID, err)
	}
	return got, nil
}

// ClaimFeed is a feeder run's first step: run n holds the feed unless a later run started.
func (s *Store) ClaimFeed(ctx context.Context, migrationID string, run int64) (Feed, error) {
	res, err := s.run(ctx, feedClaimScript, uploadKeys(UploadID{Migration: migrationID}), run).Slice()
	if err != nil {
		return Feed{}, fmt.Errorf("state: claim feed of %s: %w", migrationID, err)
	}
	switch asString(res[0]) {
	case "stale":
		return Feed{}, ErrStale
	case "missing":
		return Feed{}, fmt.Errorf("state: feed of %s: %w", migrationID, ErrNotFound)
	}
	var f Feed
	if err := json.Unmarshal([]byte(asString(res[1])), &f.Spec); err != nil {
		return Feed{}, fmt.Errorf("state: feed spec of %s: %w", migrationID, err)
	}
	f.Seq, f.Position = asInt(res[2]), asString(res[3])
	f.Done, f.Stopped, f.Live = asString(res[4]) == "1", asString(res[5]) == "1", asInt(res[6])
	f.Paused = asString(res[7])
	return f, nil
}

// FeedBatch creates the uploads of one batch in state planned, counts them in the migration,
// moves the checkpoint from seq to position (sealing the migration when end) and lists the
// uploads as to be enqueued, in one script. It returns how many uploads were new, or
// ErrStale when the checkpoint is no longer at seq (another feeder moved it).
func (s *Store) FeedBatch(ctx context.Context, migrationID string, seq int64, position string, end bool, batch []NewUpload) (int64, error) {
	return s.FeedBatchOfRun(ctx, migrationID, 0, seq, position, end, batch)
}

// FeedBatchOfRun is FeedBatch for feeder run run: it is also ErrStale once a later run has
// claimed the feed, so an overtaken run cannot move the checkpoint under the run that holds
// it (which would then find its own batch stale and stop, leaving nobody to feed).
func (s *Store) FeedBatchOfRun(ctx context.Context, migrationID string, run, seq int64, position string, end bool, batch []NewUpload) (int64, error) {
	keys := uploadKeys(UploadID{Migration: migrationID})
	args := []any{seq, position, boolField(end), run}
	for _, u := range batch {
		rec, err := uploadFields(u)
		if err != nil {
			return 0, err
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return 0, fmt.Errorf("state: feed batch: %w", err)
		}
		keys = append(keys, uploadKeys(u.ID)[0])
		args = append(args, string(b))
	}
	res, err := s.run(ctx, feedBatchScript, keys, args...).Slice()
	if err != nil {
		return 0, fmt.Errorf("state: feed batch of %s: %w", migrationID, err)
	}
	switch asString(res[0]) {
	case "stale":
		return 0, ErrStale
	case "missing":
		return 0, fmt.Errorf("state: feed batch of %s: %w", migrationID, ErrNotFound)
	}
	return asInt(res[1]), nil
}

// FeedPending returns the uploads the feeder created and has not enqueued yet.
func (s *Store) FeedPending(ctx context.Context, migrationID string) ([]UploadID, error) {
	raw, err := s.rdb.LRange(ctx, migrationFeedKey(migrationID), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("state: feed pending of %s: %w", migrationID, err)
	}
	return parseUploadIDs(raw)
}

// FeedEnqueued forgets the uploads FeedPending returned, once their tasks are enqueued.
func (s *Store) FeedEnqueued(ctx context.Context, migrationID string, n int) error {
	if err := s.rdb.LTrim(ctx, migrationFeedKey(migrationID), int64(n), -1).Err(); err != nil {
		return fmt.Errorf("state: feed enqueued of %s: %w", migrationID, err)
	}
	return nil
}

// FeedForget forgets the given uploads of the to-enqueue list (each once), once their tasks
// are enqueued. Unlike FeedEnqueued's count it is safe when two feeder runs overlap: a second
// copy forgetting the same uploads cannot drop a later batch's uploads before their start
// tasks are enqueued.
func (s *Store) FeedForget(ctx context.Context, migrationID string, ids []UploadID) error {
	key := migrationFeedKey(migrationID)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range ids {
			p.LRem(ctx, key, 1, id.String())
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state: feed forget of %s: %w", migrationID, err)
	}
	return nil
}

// StopFeed stops a fed migration's feeder for good and seals the migration (a cancelled
// migration gets no new uploads, and finishes once its live ones are terminal). It does
// nothing to a migration that is not fed.
func (s *Store) StopFeed(ctx context.Context, migrationID string) error {
	fed, err := s.rdb.HExists(ctx, migrationKey(migrationID), "feed").Result()
	if err != nil {
		return fmt.Errorf("state: stop feed of %s: %w", migrationID, err)
	}
	if !fed {
		return nil
	}
	if err := s.rdb.HSet(ctx, migrationKey(migrationID), "feed_stopped", "1").Err(); err != nil {
		return fmt.Errorf("state: stop feed of %s: %w", migrationID, err)
	}
	return s.SealMigration(ctx, migrationID)
}

// SetFeedPaused records why a migration's feeder is waiting ("" when it is not).
func (s *Store) SetFeedPaused(ctx context.Context, migrationID, reason string) error {
	if err := s.rdb.HSet(ctx, migrationKey(migrationID), "feed_paused", reason).Err(); err != nil {
		return fmt.Errorf("state: feed paused of %s: %w", migrationID, err)
	}
	return nil
}

// Memory is Redis's memory use as INFO memory reports it.
type Memory struct {
	Used int64 // used_memory
	Max  int64 // maxmemory; 0 when unlimited
}

// RedisMemory reads INFO memory (of the node the client reaches; of one master in a cluster).
func (s *Store) RedisMemory(ctx context.Context) (Memory, error) {
	info, err := s.rdb.Info(ctx, "memory").Result()
	if err != nil {
		return Memory{}, fmt.Errorf("state: info memory: %w", err)
	}
	var m Memory
	for line := range strings.Lines(info) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch k {
		case "used_memory":
			m.Used, _ = strconv.ParseInt(v, 10, 64)
		case "maxmemory":
			m.Max, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return m, nil
}
