package e2e

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"
)

// TestObjectOptionsFromFlagsAndManifest: the real enqueuer's object flags apply to every line
// of a manifest, a line's own options override them, and a worker with an SSE-C key directory
// uploads an object whose key only it knows (the records name the key file, nothing more).
func TestObjectOptionsFromFlagsAndManifest(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	keyDir := t.TempDir()
	key := []byte("e2e-sse-c-key-of-32-bytes-length")
	require.Len(t, key, 32)
	require.NoError(t, os.WriteFile(filepath.Join(keyDir, "k1"), []byte(base64.StdEncoding.EncodeToString(key)), 0o600))
	s.startWorker(t, "worker-1", "--sse-c-key-dir", keyDir)
	s.writeFile(t, "o/a.parquet", 10)
	s.writeFile(t, "o/b.csv", 20)

	manifest := filepath.Join(t.TempDir(), "m.jsonl")
	require.NoError(t, os.WriteFile(manifest, []byte(`{"source":"o/a.parquet","key":"a.parquet"}
{"source":"o/b.csv","key":"b.csv","cache_control":"no-store","tags":{"owner":"item"},"content_disposition":"attachment"}
`), 0o644))
	r := s.run(t, nil, "migrate", "--bucket", s.bucket, "--prefix", "opt/", "--manifest", manifest, "--wait",
		"--cache-control", "max-age=60", "--tags", "owner=flags,team=data", "--storage-class", "STANDARD")
	require.Equal(t, 0, r.code, "migrate: %s\n%s", r.stderr, r.stdout)

	ctx := context.Background()
	info, err := s.direct.StatObject(ctx, s.bucket, "opt/a.parquet", minio.StatObjectOptions{})
	require.NoError(t, err)
	require.Equal(t, "application/vnd.apache.parquet", info.ContentType, "from the built-in table")
	require.Equal(t, "max-age=60", info.Metadata.Get("Cache-Control"), "the flag")
	tags, err := s.direct.GetObjectTagging(ctx, s.bucket, "opt/a.parquet", minio.GetObjectTaggingOptions{})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"owner": "flags", "team": "data"}, tags.ToMap())

	info, err = s.direct.StatObject(ctx, s.bucket, "opt/b.csv", minio.StatObjectOptions{})
	require.NoError(t, err)
	require.Equal(t, "text/csv", info.ContentType)
	require.Equal(t, "no-store", info.Metadata.Get("Cache-Control"), "the line's option overrides the flag")
	require.Equal(t, "attachment", info.Metadata.Get("Content-Disposition"))
	tags, err = s.direct.GetObjectTagging(ctx, s.bucket, "opt/b.csv", minio.GetObjectTaggingOptions{})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"owner": "item"}, tags.ToMap(), "the line's tags replace the flags'")

	// SSE-C with a key named, not given.
	sum := s.writeFile(t, "o/secret.bin", 6<<20)
	r = s.run(t, nil, "put", "--source", "o/secret.bin", "--bucket", s.bucket, "--key", "secret.bin", "--part-size", "5MiB",
		"--sse", "SSE-C", "--sse-c-key", "k1", "--wait", "--json")
	require.Equal(t, 0, r.code, "put: %s\n%s", r.stderr, r.stdout)
	require.NotContains(t, r.stdout, base64.StdEncoding.EncodeToString(key))
	require.Equal(t, sum, s.objectSHA256(t, "secret.bin"))
	keys, err := s.redisKeys()
	require.NoError(t, err)
	rdb := s.rdb(t)
	for _, k := range keys {
		if typ, _ := rdb.Type(ctx, k).Result(); typ == "hash" {
			h, err := rdb.HGetAll(ctx, k).Result()
			require.NoError(t, err)
			for f, v := range h {
				require.False(t, strings.Contains(v, base64.StdEncoding.EncodeToString(key)) || strings.Contains(v, string(key)),
					"%s %s holds the key", k, f)
			}
		}
	}

	r = s.run(t, nil, "put", "--source", "o/b.csv", "--bucket", s.bucket, "--key", "x", "--sse", "SSE-C")
	require.Equal(t, 2, r.code, "SSE-C without a key name is bad input: %s", r.stderr)
	require.Contains(t, r.stderr, "sse_c_key")
}
