package state

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// ListMigrations returns up to limit migrations, most recently created first, starting at
// offset, and how many the index holds. Index entries whose migration has expired are
// dropped from the index as they are met.
func (s *Store) ListMigrations(ctx context.Context, offset, limit int64) ([]Migration, int64, error) {
	total, err := s.rdb.ZCard(ctx, MigrationsIndexKey).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("state: list migrations: %w", err)
	}
	ids, err := s.rdb.ZRevRange(ctx, MigrationsIndexKey, offset, offset+limit-1).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("state: list migrations: %w", err)
	}
	out := make([]Migration, 0, len(ids))
	for _, id := range ids {
		m, err := s.GetMigration(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound):
			s.rdb.ZRem(ctx, MigrationsIndexKey, id) // expired: best effort
			total--
			continue
		case err != nil:
			return nil, 0, err
		}
		out = append(out, m)
	}
	return out, total, nil
}

// CountMigrationUploads returns how many uploads a migration has in its index.
func (s *Store) CountMigrationUploads(ctx context.Context, migrationID string) (int64, error) {
	n, err := s.rdb.ZCard(ctx, migrationUploadsKey(migrationID)).Result()
	if err != nil {
		return 0, fmt.Errorf("state: count uploads of %s: %w", migrationID, err)
	}
	return n, nil
}

// FailedUploads returns up to limit failed upload IDs of a migration, oldest failure first,
// starting at offset, and how many there are in all.
func (s *Store) FailedUploads(ctx context.Context, migrationID string, offset, limit int64) ([]UploadID, int64, error) {
	key := migrationFailedKey(migrationID)
	total, err := s.rdb.ZCard(ctx, key).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("state: failed uploads of %s: %w", migrationID, err)
	}
	raw, err := s.rdb.ZRange(ctx, key, offset, offset+limit-1).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("state: failed uploads of %s: %w", migrationID, err)
	}
	ids, err := parseUploadIDs(raw)
	if err != nil {
		return nil, 0, err
	}
	return ids, total, nil
}

// GetUploads reads many upload records in one round trip. Uploads that do not exist (or
// have expired) are left out.
func (s *Store) GetUploads(ctx context.Context, ids []UploadID) ([]Upload, error) {
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, uploadKeys(id)[0])
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state: get uploads: %w", err)
	}
	out := make([]Upload, 0, len(ids))
	for i, c := range cmds {
		if len(c.Val()) == 0 {
			continue
		}
		u, err := parseUpload(ids[i], c.Val())
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// StalledUploads returns up to limit live (non-terminal) uploads of a migration that have not
// changed since before.
func (s *Store) StalledUploads(ctx context.Context, migrationID string, before time.Time, limit int64) ([]UploadID, error) {
	raw, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: migrationLiveKey(migrationID), ByScore: true,
		Start: "-inf", Stop: strconv.FormatInt(before.UnixMilli(), 10), Count: limit}).Result()
	if err != nil {
		return nil, fmt.Errorf("state: stalled uploads of %s: %w", migrationID, err)
	}
	return parseUploadIDs(raw)
}

// PruneMigrationsIndex drops index entries whose migration has expired and returns how many.
func (s *Store) PruneMigrationsIndex(ctx context.Context) (int, error) {
	pruned := 0
	const page = 1000
	for offset := int64(0); ; offset += page {
		ids, err := s.rdb.ZRange(ctx, MigrationsIndexKey, offset, offset+page-1).Result()
		if err != nil {
			return pruned, fmt.Errorf("state: prune migrations index: %w", err)
		}
		var gone []any
		for _, id := range ids {
			n, err := s.rdb.Exists(ctx, migrationKey(id)).Result()
			if err != nil {
				return pruned, fmt.Errorf("state: prune migrations index: %w", err)
			}
			if n == 0 {
				gone = append(gone, id)
			}
		}
		if len(gone) > 0 {
			if err := s.rdb.ZRem(ctx, MigrationsIndexKey, gone...).Err(); err != nil {
				return pruned, fmt.Errorf("state: prune migrations index: %w", err)
			}
			pruned += len(gone)
			offset -= int64(len(gone))
		}
		if int64(len(ids)) < page {
			return pruned, nil
		}
	}
}

// parseUploadIDs parses the upload IDs an index holds.
func parseUploadIDs(raw []string) ([]UploadID, error) {
	ids := make([]UploadID, 0, len(raw))
	for _, r := range raw {
		id, err := ParseUploadID(r)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}
