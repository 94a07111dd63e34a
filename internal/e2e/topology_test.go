package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/localstack"
	"github.com/partflow/partflow/internal/testenv"
)

// topologyData writes a small migration below dir: 8 files of two or three 5 MiB parts and
// 24 small ones (one PutObject each), all of different sizes. It returns their SHA-256 by
// path relative to dir, and their total size.
func (s *stack) topologyData(t *testing.T, dir string) (map[string]string, int64) {
	t.Helper()
	sums := map[string]string{}
	var total int64
	for i := range 32 {
		size := int64(37*1024 + i*7919)
		if i < 8 {
			size = int64(6*mib + i*mib + i*13)
		}
		name := fmt.Sprintf("f%02d.bin", i)
		sums[name] = s.writeFile(t, filepath.Join(dir, name), size)
		total += size
	}
	return sums, total
}

// migrationReport reads `status ID --json` once.
func (s *stack) migrationReport(t *testing.T, id string) reportOutput {
	t.Helper()
	r := s.run(t, nil, "status", id, "--json")
	require.Equal(t, 0, r.code, "status %s: %s", id, r.stderr)
	var rep reportOutput
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	return rep
}

// requireMigrated waits for the migration to end and checks that it completed with every
// upload counted exactly once (uploads and bytes) and every object byte-identical. With
// exact, it also checks that no worker completed an upload twice and that no multipart
// upload is left over; a failover can rewind Redis by its last writes, after which asynq
// runs their tasks again (see the README), so the failover test only logs those.
func (s *stack) requireMigrated(t *testing.T, id string, sums map[string]string, total int64, exact bool) {
	t.Helper()
	r := s.run(t, nil, "status", id, "--watch", "--json")
	require.Equal(t, 0, r.code, "the migration must complete: %s %s", r.stdout, r.stderr)
	var rep reportOutput
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	requireComplete(t, &rep, len(sums), total)
	s.requireObjects(t, "", sums)
	if exact {
		s.requireNoMultipart(t)
		require.Equal(t, len(sums), s.logCount(t, "UploadCompleted"), "every upload completed exactly once across all workers")
		return
	}
	left := 0
	for range s.direct.ListIncompleteUploads(context.Background(), s.bucket, "", true) {
		left++
	}
	t.Logf("uploads completed again after the failover rewound their completion: %d; multipart uploads left for the janitor: %d",
		s.logCount(t, "UploadCompleted")-len(sums), left)
}

// TestRedisClusterMigration runs a migration on a 3-master Redis Cluster: the workers and
// the enqueuer talk to it with --redis-cluster (asynq's queues and partflow's per-migration
// keys spread over the masters by their hash tags).
func TestRedisClusterMigration(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cluster, err := localstack.StartRedisCluster(ctx, localstack.ClusterConfig{Dir: t.TempDir(), Masters: 3, AppendOnly: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cluster.Stop() })

	s := newStackWith(t, cluster.URL(), true)
	sums, total := s.topologyData(t, "set")
	s.startWorker(t, "worker-1", "--concurrency", "4")
	s.startWorker(t, "worker-2", "--concurrency", "4")
	r := s.run(t, nil, "migrate", "--bucket", s.bucket, "--source", "set", "--part-size", "5MiB", "--json")
	require.Equal(t, 0, r.code, "migrate: %s %s", r.stdout, r.stderr)
	out := decodeMigrate(t, r)
	s.requireMigrated(t, out.MigrationID, sums, total, true)

	// The data really is spread: more than one master holds keys.
	holding := 0
	for _, n := range cluster.Nodes {
		c := testenv.RedisClient(t, n)
		if size, err := c.DBSize(t.Context()).Result(); err == nil && size > 0 {
			holding++
		}
	}
	require.Greater(t, holding, 1, "keys on more than one master")
}

// TestSentinelFailoverMidMigration runs a migration against a master, one replica and three
// sentinels, and fails the master over (SENTINEL FAILOVER) while uploads are in flight. The
// workers and the enqueuer follow the new master through the sentinels; the migration still
// completes, byte-identical, with nothing lost and no upload counted twice. (Replication is
// asynchronous: the writes the old master took in its last moments are lost, and asynq runs
// their tasks again once their leases expire, so this test can take two minutes longer.)
func TestSentinelFailoverMidMigration(t *testing.T) {
	t.Parallel()
	const name = "partflow"
	master := testenv.Redis(t)
	replica := testenv.RedisWith(t, localstack.RedisConfig{AppendOnly: true,
		Args: []string{"--replicaof", "127.0.0.1", fmt.Sprint(master.Port())}})
	// Bounds the start of the sentinels, not the test: replayed tasks wait out their leases
	// (up to two minutes) after the failover.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var sentinels []*localstack.Sentinel
	for i := range 3 {
		sn, err := localstack.StartSentinel(ctx, localstack.SentinelConfig{Dir: filepath.Join(t.TempDir(), fmt.Sprint("sentinel-", i)),
			MasterName: name, MasterAddr: master.Addr()})
		require.NoError(t, err)
		t.Cleanup(func() { _ = sn.Stop() })
		sentinels = append(sentinels, sn)
	}
	cancel()
	ctx = t.Context()
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinels[0].Addr()})
	t.Cleanup(func() { _ = sc.Close() })
	// Sentinels learn of replicas from the master's INFO (every 10 s at first): a failover
	// before that has no replica to promote.
	require.Eventually(t, func() bool {
		replicas, err := sc.Replicas(ctx, name).Result()
		if err != nil || len(replicas) != 1 {
			return false
		}
		return replicas[0]["port"] == fmt.Sprint(replica.Port()) && replicas[0]["master-link-status"] == "ok" &&
			!strings.Contains(replicas[0]["flags"], "down") && !strings.Contains(replicas[0]["flags"], "disconnected")
	}, time.Minute, 100*time.Millisecond, "waiting for the sentinel to see the replica in sync")

	s := newStackWith(t, localstack.SentinelURL(name, "", sentinels...), false)
	sums, total := s.topologyData(t, "set")
	// Slow enough that the failover lands mid-migration: ~110 MiB at 2 × 8 MiB/s.
	s.startWorker(t, "worker-1", "--concurrency", "4", "--bwlimit", "8MiB")
	s.startWorker(t, "worker-2", "--concurrency", "4", "--bwlimit", "8MiB")
	r := s.run(t, nil, "migrate", "--bucket", s.bucket, "--source", "set", "--part-size", "5MiB", "--json")
	require.Equal(t, 0, r.code, "migrate: %s %s", r.stdout, r.stderr)
	id := decodeMigrate(t, r).MigrationID

	require.Eventually(t, func() bool { return s.migrationReport(t, id).Completed >= 4 }, time.Minute, 50*time.Millisecond,
		"waiting for 4 uploads of %s to complete", id)
	require.NoError(t, sc.Failover(ctx, name).Err(), "SENTINEL FAILOVER")
	require.Eventually(t, func() bool {
		addr, err := sc.GetMasterAddrByName(ctx, name).Result()
		return err == nil && len(addr) == 2 && addr[1] == fmt.Sprint(replica.Port())
	}, time.Minute, 50*time.Millisecond, "waiting for the sentinels to promote the replica")
	rep := s.migrationReport(t, id)
	require.False(t, rep.Finished, "the failover must land mid-migration (completed %d of %d)", rep.Completed, rep.Total)
	t.Logf("failed over with %d of %d uploads completed", rep.Completed, rep.Total)

	s.requireMigrated(t, id, sums, total, false)
	old := testenv.RedisClient(t, master)
	require.Eventually(t, func() bool {
		role, err := old.Do(t.Context(), "ROLE").Slice()
		return err == nil && len(role) > 0 && role[0] == "slave"
	}, time.Minute, 100*time.Millisecond, "waiting for the sentinels to make the old master follow the new one")
}
