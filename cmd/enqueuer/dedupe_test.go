package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/testenv"
)

// A manifest that lists one key twice is refused with exit 2, naming each repeat, and nothing
// is written to Redis.
func TestMigrateRefusesManifestWithDuplicateKey(t *testing.T) {
	t.Parallel()
	r := testenv.Redis(t)
	rdb := testenv.RedisClient(t, r)
	path := filepath.Join(t.TempDir(), "m.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(`{"source":"a","key":"k1"}
{"source":"b","key":"k2"}
{"source":"c","key":"k1"}
{"source":"d","key":"k3","bucket":"other"}
{"source":"e","key":"k3","bucket":"other"}
`), 0o644))
	var stdout, stderr strings.Builder
	code := run([]string{"migrate", "--redis-url", r.URL(), "--bucket", "bkt", "--manifest", path}, &stdout, &stderr)
	require.Equal(t, exitUsage, code, "stdout %s\nstderr %s", stdout.String(), stderr.String())
	require.Contains(t, stderr.String(), "line 3: key listed more than once: bkt/k1")
	require.Contains(t, stderr.String(), "line 5: key listed more than once: other/k3")
	require.Contains(t, stderr.String(), "2 items name a key an earlier item names too")
	require.Contains(t, stderr.String(), "--dedupe last")
	keys, err := rdb.Keys(t.Context(), "*").Result()
	require.NoError(t, err)
	require.Empty(t, keys, "nothing was enqueued")

	stdout.Reset()
	stderr.Reset()
	code = run([]string{"migrate", "--redis-url", r.URL(), "--bucket", "bkt", "--manifest", path, "--dedupe", "last"}, &stdout, &stderr)
	require.Equal(t, 0, code, "stderr %s", stderr.String())
	require.Contains(t, stderr.String(), "3 items enqueued")
}
