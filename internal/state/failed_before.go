package state

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Now returns the Redis server's clock, the clock every record's times (and the failure
// index's scores) come from.
func (s *Store) Now(ctx context.Context) (time.Time, error) {
	t, err := s.rdb.Time(ctx).Result()
	if err != nil {
		return time.Time{}, fmt.Errorf("state: server time: %w", err)
	}
	return t, nil
}

// FailedUploadsBefore returns up to limit IDs of a migration's uploads that failed before
// the server time before (see Now), oldest failure first, starting at offset. An upload
// that fails again after before, say one resumed meanwhile, is not among them.
func (s *Store) FailedUploadsBefore(ctx context.Context, migrationID string, before time.Time, offset, limit int64) ([]UploadID, error) {
	raw, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: migrationFailedKey(migrationID), ByScore: true,
		Start: "-inf", Stop: "(" + strconv.FormatInt(before.UnixMilli(), 10), Offset: offset, Count: limit}).Result()
	if err != nil {
		return nil, fmt.Errorf("state: failed uploads of %s: %w", migrationID, err)
	}
	return parseUploadIDs(raw)
}
