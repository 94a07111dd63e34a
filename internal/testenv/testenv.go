// Package testenv gives tests their own real servers: redis-server and the
// versitygw S3 gateway on free loopback ports with temporary directories, and
// a fault-injecting S3 proxy. Everything is stopped on t.Cleanup.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/redis/go-redis/v9"

	"github.com/partflow/partflow/internal/localstack"
)

const startTimeout = time.Minute

// Redis starts a redis-server with AOF on in t.TempDir().
func Redis(t testing.TB) *localstack.Redis {
	t.Helper()
	return RedisWith(t, localstack.RedisConfig{AppendOnly: true})
}

// RedisWith starts a redis-server with cfg; an empty Dir becomes t.TempDir().
func RedisWith(t testing.TB, cfg localstack.RedisConfig) *localstack.Redis {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	r, err := localstack.StartRedis(ctx, cfg)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Stop(); err != nil {
			t.Errorf("testenv: stop redis: %v", err)
		}
	})
	return r
}

// RedisClient returns a go-redis client for r, closed on cleanup.
func RedisClient(t testing.TB, r *localstack.Redis) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), Password: r.Password()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// S3 starts versitygw in t.TempDir() with fresh random credentials.
func S3(t testing.TB) *localstack.S3 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	s, err := localstack.StartS3(ctx, localstack.S3Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("testenv: stop s3: %v", err)
		}
	})
	return s
}

// MinioClient returns a path-style minio-go client for endpoint (the server
// itself or a Proxy URL) with s's credentials and region us-east-1.
func MinioClient(t testing.TB, endpoint string, s *localstack.S3) *minio.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	c, err := localstack.MinioClient(endpoint, s, tr)
	if err != nil {
		t.Fatalf("testenv: minio client for %s: %v", endpoint, err)
	}
	return c
}

// ObjectSHA256 reads an object straight from the S3 server and returns the hex SHA-256 of
// its content (localstack.ObjectSHA256), failing t if it cannot. Call it from the test's
// goroutine; elsewhere call localstack.ObjectSHA256.
func ObjectSHA256(t testing.TB, mc *minio.Client, bucket, key string) string {
	t.Helper()
	sum, _, err := localstack.ObjectSHA256(t.Context(), mc, bucket, key)
	if err != nil {
		t.Fatalf("testenv: reading back %s: %v", key, err)
	}
	return sum
}

// Bucket creates a fresh bucket named "pf-" + 12 random hex digits on s.
func Bucket(t testing.TB, s *localstack.S3) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "pf-" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := MinioClient(t, s.Endpoint, s).MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("testenv: create bucket %s: %v", name, err)
	}
	return name
}
