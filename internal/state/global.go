package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

var unlockScript = func() *redis.Script {
	b, err := scriptFiles.ReadFile("scripts/unlock.lua")
	if err != nil {
		panic(err)
	}
	return redis.NewScript(string(b))
}()

// RememberS3Upload records that S3 multipart upload s3ID belongs to upload id.
func (s *Store) RememberS3Upload(ctx context.Context, s3ID string, id UploadID) error {
	if err := s.rdb.HSet(ctx, s3UploadsKey, s3ID, id.String()).Err(); err != nil {
		return fmt.Errorf("state: remember S3 upload of %s: %w", id, err)
	}
	return nil
}

// S3UploadOwner returns the upload that S3 multipart upload s3ID belongs to; ok is false when
// no partflow upload claims it.
func (s *Store) S3UploadOwner(ctx context.Context, s3ID string) (id UploadID, ok bool, err error) {
	raw, err := s.rdb.HGet(ctx, s3UploadsKey, s3ID).Result()
	if errors.Is(err, redis.Nil) {
		return UploadID{}, false, nil
	}
	if err != nil {
		return UploadID{}, false, fmt.Errorf("state: owner of S3 upload: %w", err)
	}
	id, err = ParseUploadID(raw)
	if err != nil {
		return UploadID{}, false, err
	}
	return id, true, nil
}

// ForgetS3Upload drops the record of S3 multipart upload s3ID (after it completed or was aborted).
func (s *Store) ForgetS3Upload(ctx context.Context, s3ID string) error {
	if err := s.rdb.HDel(ctx, s3UploadsKey, s3ID).Err(); err != nil {
		return fmt.Errorf("state: forget S3 upload: %w", err)
	}
	return nil
}

// TryLock takes the named lock for ttl. It returns a release function and true when the lock
// was free; false when someone else holds it.
func (s *Store) TryLock(ctx context.Context, name string, ttl time.Duration) (func(), bool, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	key := lockKey(name)
	ok, err := s.rdb.SetArgs(ctx, key, token, redis.SetArgs{Mode: "NX", TTL: ttl}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("state: lock %s: %w", name, err)
	}
	if ok != "OK" {
		return nil, false, nil
	}
	release := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = unlockScript.Run(ctx, s.rdb, []string{key}, token).Err()
	}
	return release, true, nil
}
