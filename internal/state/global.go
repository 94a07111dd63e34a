package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// The lock scripts stand alone (without lib.lua).
var (
	unlockScript     = loadStandalone("unlock.lua")
	extendLockScript = loadStandalone("extend_lock.lua")
)

func loadStandalone(name string) *redis.Script {
	b, err := scriptFiles.ReadFile("scripts/" + name)
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	return redis.NewScript(string(b))
}

// S3Upload is partflow's note of an S3 multipart upload it started: which upload owns it
// and where it lives, so the janitor can abort it even after the owner's record expired.
type S3Upload struct {
	S3UploadID string `json:"-"`
	Upload     string `json:"upload"`
	Bucket     string `json:"bucket"`
	Key        string `json:"key"`
}

// RememberS3Upload records an S3 multipart upload partflow started.
func (s *Store) RememberS3Upload(ctx context.Context, u S3Upload) error {
	b, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("state: remember S3 upload of %s: %w", u.Upload, err)
	}
	if err := s.rdb.HSet(ctx, s3UploadsKey, u.S3UploadID, b).Err(); err != nil {
		return fmt.Errorf("state: remember S3 upload of %s: %w", u.Upload, err)
	}
	return nil
}

// S3UploadOwner returns partflow's note of S3 multipart upload s3ID; ok is false when partflow
// has none.
func (s *Store) S3UploadOwner(ctx context.Context, s3ID string) (u S3Upload, ok bool, err error) {
	raw, err := s.rdb.HGet(ctx, s3UploadsKey, s3ID).Result()
	if errors.Is(err, redis.Nil) {
		return S3Upload{}, false, nil
	}
	if err != nil {
		return S3Upload{}, false, fmt.Errorf("state: owner of S3 upload: %w", err)
	}
	if err := json.Unmarshal([]byte(raw), &u); err != nil {
		return S3Upload{}, false, fmt.Errorf("state: owner of S3 upload: %w", err)
	}
	u.S3UploadID = s3ID
	return u, true, nil
}

// ScanS3Uploads returns a batch of partflow's notes of S3 multipart uploads and the cursor of
// the next batch (0 when done), as Redis HSCAN does.
func (s *Store) ScanS3Uploads(ctx context.Context, cursor uint64, count int64) ([]S3Upload, uint64, error) {
	kv, next, err := s.rdb.HScan(ctx, s3UploadsKey, cursor, "", count).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("state: scan S3 uploads: %w", err)
	}
	out := make([]S3Upload, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		var u S3Upload
		if json.Unmarshal([]byte(kv[i+1]), &u) != nil {
			continue // not ours to read; the janitor leaves it
		}
		u.S3UploadID = kv[i]
		out = append(out, u)
	}
	return out, next, nil
}

// ForgetS3Upload drops the record of S3 multipart upload s3ID (after it completed or was aborted).
func (s *Store) ForgetS3Upload(ctx context.Context, s3ID string) error {
	if err := s.rdb.HDel(ctx, s3UploadsKey, s3ID).Err(); err != nil {
		return fmt.Errorf("state: forget S3 upload: %w", err)
	}
	return nil
}

// TryLock takes the named lock for ttl. It returns a release function and true when the lock
// was free; false when someone else holds it. While it is held, the lock is extended every
// third of ttl until it is released or ctx ends, so a holder that dies (a killed pod) or
// overruns its task's deadline frees it within ttl instead of keeping it for a whole run's
// worst case.
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
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(ttl / 3)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return // the holder's work is over (or timed out): let the TTL free the lock
			case <-tick.C:
				ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ttl/3)
				_ = extendLockScript.Run(ectx, s.rdb, []string{key}, token, ttl.Milliseconds()).Err() // a miss: the TTL runs out
				cancel()
			}
		}
	}()
	release := func() {
		close(stop)
		<-done
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = unlockScript.Run(ctx, s.rdb, []string{key}, token).Err()
	}
	return release, true, nil
}
