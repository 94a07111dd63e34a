package e2e

import (
	"bytes"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/tags"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/testenv"
)

// TestMigrateS3PrefixListedByTheFleet migrates `--source s3://bucket/data/` from a second S3
// store: the enqueuer lists nothing (it has no source credentials; a --dry-run given them
// lists and counts what the filters keep); the fleet's feeder lists
// the prefix page by page, a small window at a time, applying --exclude, and maps each key
// below the prefix to --prefix + key. 500 mixed-size objects (three multipart) arrive
// byte-identical with their content types, metadata and (with --source-s3-copy-tags) tags;
// keys outside the prefix and excluded ones are not copied; the worker running the feeder
// is SIGKILLed mid-listing and the command re-run, and still every key makes exactly one
// upload; a source overwritten mid-migration fails its upload with "source changed".
func TestMigrateS3PrefixListedByTheFleet(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	src := testenv.S3(t)
	srcBucket := testenv.Bucket(t, src)
	srcClient := testenv.MinioClient(t, src.Endpoint, src)
	objs := sourceSet(t, srcClient, srcBucket, "data/", 500, 5*mib+1, 11*mib, 7*mib)
	_, err := putSourceObject(t.Context(), srcClient, srcBucket, "data/victim.bin", 6*mib, 5)
	require.NoError(t, err)
	put := func(key string, opts minio.PutObjectOptions) {
		body := []byte("body of " + key)
		_, err := srcClient.PutObject(t.Context(), srcBucket, key, bytes.NewReader(body), int64(len(body)), opts)
		require.NoError(t, err)
	}
	tagged, err := putSourceObject(t.Context(), srcClient, srcBucket, "data/sub/tagged.dat", 3<<10, 77)
	require.NoError(t, err)
	err = srcClient.PutObjectTagging(t.Context(), srcBucket, "data/sub/tagged.dat",
		mustTags(t, map[string]string{"tier": "gold"}), minio.PutObjectTaggingOptions{})
	require.NoError(t, err)
	objs["sub/tagged.dat"] = tagged
	for _, key := range []string{"data/scratch/a.tmp", "data/b.tmp", "data2/outside.dat", "other/outside.dat"} {
		put(key, minio.PutObjectOptions{})
	}

	// Every source read through a proxy: slowed a little (so the listing outlasts a kill),
	// and the victim overwritten the first time a part of it is read.
	proxy := testenv.NewProxy(t, src.Endpoint)
	var overwriteErrs []error
	overwrite := overwriteOnce(srcClient, srcBucket, "data/victim.bin", &overwriteErrs, func(r testenv.Request) bool {
		return r.Op == testenv.OpGetObject && r.Key == "data/victim.bin"
	})
	proxy.SetFault(func(r testenv.Request) testenv.Fault {
		f := overwrite(r)
		if r.Op == testenv.OpGetObject || r.Op == testenv.OpHeadObject {
			f.Delay = 30 * time.Millisecond
		}
		return f
	})
	// The enqueuer gets no source credentials; the workers do.
	workerEnv := []string{"PARTFLOW_SOURCE_AWS_ACCESS_KEY_ID=" + src.AccessKey, "PARTFLOW_SOURCE_AWS_SECRET_ACCESS_KEY=" + src.SecretKey}
	workerArgs := []string{"--source-s3-endpoint", proxy.URL(), "--source-s3-copy-tags", "--concurrency", "8", "--feed-interval", "100ms"}
	w1 := s.startWorkerWithEnv(t, "w1", workerEnv, workerArgs...)

	args := []string{"migrate", "--source", "s3://" + srcBucket + "/data", "--bucket", s.bucket, "--prefix", "copied/",
		"--window", "40", "--exclude", "*.tmp", "--part-size", "5MiB", "--json"}
	want := int64(len(objs) + 1) // and the victim

	// --dry-run lists the prefix from the enqueuer only when it is given the source store.
	r := s.run(t, nil, append(args, "--dry-run")...)
	require.Equal(t, 2, r.code, "a dry run without the source store: %s %s", r.stdout, r.stderr)
	require.Contains(t, r.stderr, "--source-s3-endpoint")
	s.extraEnv = append([]string{"PARTFLOW_SOURCE_S3_ENDPOINT=" + src.Endpoint}, workerEnv...)
	r = s.run(t, nil, append(args, "--dry-run", "--show-keys", "3")...)
	s.extraEnv = nil
	require.Zero(t, r.code, "a dry run with the source store: %s %s", r.stdout, r.stderr)
	dry := decodeMigrate(t, r)
	require.Equal(t, want, dry.Plan.Valid, "the dry run counts what the filters keep")
	require.Contains(t, r.stdout, `"filtered_out": 2`, "the two .tmp objects")
	require.Len(t, dry.Plan.FirstKeys, 3)
	require.True(t, strings.HasPrefix(dry.Plan.FirstKeys[0], s.bucket+"/copied/"), "first keys: %v", dry.Plan.FirstKeys)

	r = s.run(t, nil, args...)
	require.Zero(t, r.code, "migrate: %s %s", r.stdout, r.stderr)
	mid := decodeMigrate(t, r).MigrationID
	require.Equal(t, dry.MigrationID, mid, "the dry run names the migration the real run makes")
	require.NotEmpty(t, mid)
	require.Contains(t, r.stdout, `"listing": "s3://`+srcBucket+`/data/"`, "the fleet lists the prefix (as a folder)")

	// Mid-listing: kill the worker running the feeder, run the command again, start another.
	rdb := s.rdb(t)
	require.Eventually(t, func() bool {
		m, err := mustStore(t, rdb).GetMigration(t.Context(), mid)
		return err == nil && m.Total >= 80 && m.Total < want-80
	}, 3*time.Minute, 5*time.Millisecond, "waiting for the feeder to be part-way through the listing")
	require.NoError(t, w1.Process.Kill())
	_, _ = w1.Process.Wait()
	m, err := mustStore(t, rdb).GetMigration(t.Context(), mid)
	require.NoError(t, err)
	t.Logf("worker killed with %d of %d uploads created", m.Total, want)
	r = s.run(t, nil, args...)
	require.Zero(t, r.code, "migrate again: %s %s", r.stdout, r.stderr)
	require.Equal(t, mid, decodeMigrate(t, r).MigrationID, "the same command carries on the same migration")
	s.startWorkerWithEnv(t, "w2", workerEnv, workerArgs...)

	// A third run waits for the end and reports.
	r = s.run(t, nil, append(args, "--wait")...)
	out := decodeMigrate(t, r)
	require.NotNil(t, out.Report, "migrate --wait printed a report: %s", r.stderr)
	require.Empty(t, overwriteErrs)
	require.Equal(t, int64(1), out.Report.Failed, "failures: %+v", out.Report.Failures)
	require.Len(t, out.Report.Failures, 1)
	require.Equal(t, "copied/victim.bin", out.Report.Failures[0].Key)
	require.Contains(t, out.Report.Failures[0].Error, "source changed")
	require.NotZero(t, r.code, "migrate --wait exits non-zero when an upload failed")

	m, err = mustStore(t, rdb).GetMigration(t.Context(), mid)
	require.NoError(t, err)
	require.Equal(t, want, m.Total, "each listed key made one upload")
	require.Equal(t, want-1, m.Completed)
	recs, total, err := mustStore(t, rdb).DoneRecords(t.Context(), mid, 0, want+10)
	require.NoError(t, err)
	require.Equal(t, want-1, total, "one done record per completed key")
	seen := map[string]bool{}
	for _, rec := range recs {
		require.False(t, seen[rec.Key], "%s completed twice", rec.Key)
		seen[rec.Key] = true
	}

	// Exactly the kept keys below the prefix, with their bytes, types, metadata and tags.
	s.requireCopies(t, "copied/", objs)
	var keys []string
	for o := range s.direct.ListObjects(t.Context(), s.bucket, minio.ListObjectsOptions{Recursive: true}) {
		require.NoError(t, o.Err)
		keys = append(keys, o.Key)
	}
	require.Len(t, keys, len(objs), "nothing outside the prefix, excluded or failed was copied: %v", firstN(keys, 10))
	got, err := s.direct.GetObjectTagging(t.Context(), s.bucket, "copied/sub/tagged.dat", minio.GetObjectTaggingOptions{})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"tier": "gold"}, got.ToMap(), "tags carried over")

	pages := 0
	for _, ex := range proxy.Exchanges() {
		if ex.Op == testenv.OpOther && ex.Method == http.MethodGet && strings.Trim(ex.Path, "/") == srcBucket {
			pages++
		}
	}
	require.Greater(t, pages, int(want)/40, "the feeder listed the prefix a window's page at a time")
	t.Logf("ListObjectsV2 requests: %d for %d keys (window 40)", pages, want)
}

func mustTags(t *testing.T, m map[string]string) *tags.Tags {
	t.Helper()
	tg, err := tags.NewTags(m, true)
	require.NoError(t, err)
	return tg
}

func firstN(s []string, n int) []string { return s[:min(n, len(s))] }

// startWorkerWithEnv is startWorker with env added to the worker's environment only (the
// enqueuer's stays without it).
func (s *stack) startWorkerWithEnv(t *testing.T, name string, env []string, args ...string) *exec.Cmd {
	t.Helper()
	saved := s.extraEnv
	s.extraEnv = append(slices.Clone(saved), env...)
	defer func() { s.extraEnv = saved }()
	return s.startWorker(t, name, args...)
}

// TestMigrateS3PrefixOfAMissingBucketPauses: a listing that cannot succeed (the source bucket
// does not exist) pauses the migration with the reason instead of retrying for an hour;
// migrate --wait exits with the paused code and says why.
func TestMigrateS3PrefixOfAMissingBucketPauses(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	src := testenv.S3(t)
	s.startWorkerWithEnv(t, "w1", []string{"PARTFLOW_SOURCE_AWS_ACCESS_KEY_ID=" + src.AccessKey,
		"PARTFLOW_SOURCE_AWS_SECRET_ACCESS_KEY=" + src.SecretKey}, "--source-s3-endpoint", src.Endpoint, "--feed-interval", "100ms")
	r := s.run(t, nil, "migrate", "--source", "s3://no-such-source-bucket/x/", "--bucket", s.bucket, "--wait", "--timeout", "2m")
	require.Equal(t, 5, r.code, "migrate --wait exits paused: %s %s", r.stdout, r.stderr)
	require.Contains(t, r.stderr, "listing the migration's source failed")
	require.Contains(t, r.stderr, "no-such-source-bucket")
}
