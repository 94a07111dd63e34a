package localstack_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/localstack"
)

// TestStartStack: the demo's and the benchmark's stack starts both servers under one
// directory, with working clients and the bucket, and Stop stops them.
func TestStartStack(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := localstack.StartStack(ctx(t), localstack.StackConfig{Dir: dir, Bucket: "pf-stack"})
	t.Cleanup(func() { st.Stop() })
	require.NoError(t, err)
	require.True(t, st.Started())
	require.NoError(t, st.RDB.Ping(ctx(t)).Err(), "the Redis client reaches the stack's redis-server")
	ok, err := st.Minio.BucketExists(ctx(t), "pf-stack")
	require.NoError(t, err)
	require.True(t, ok, "the bucket was created")
	info, err := os.Stat(st.Volume)
	require.NoError(t, err)
	require.True(t, info.IsDir())
	require.Equal(t, filepath.Join(dir, "volume"), st.Volume)
	require.NoError(t, st.StopWorkers(), "no workers: nothing to stop")
	require.Empty(t, st.Stop())
	require.Error(t, st.RDB.Ping(ctx(t)).Err(), "Stop closed the Redis client")
}
