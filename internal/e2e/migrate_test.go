package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/state"
)

// migrateOutput is what `migrate --json` prints (the parts the tests look at).
type migrateOutput struct {
	MigrationID string `json:"migration_id"`
	Invalid     []struct {
		Where string `json:"where"`
		Error string `json:"error"`
	} `json:"invalid"`
	Plan struct {
		Valid     int64    `json:"valid"`
		Invalid   int64    `json:"invalid"`
		Bytes     int64    `json:"bytes"`
		FirstKeys []string `json:"first_keys"`
	} `json:"plan"`
	Enqueue struct {
		Items    int64   `json:"items"`
		Created  int64   `json:"uploads_created"`
		Existing int64   `json:"uploads_existing"`
		Requeued int64   `json:"start_tasks_requeued"`
		Sealed   bool    `json:"sealed"`
		Rate     float64 `json:"items_per_second"`
	} `json:"enqueue"`
	Report *reportOutput `json:"report"`
	Error  string        `json:"error"`
}

// reportOutput is a migration's report as `status ID --json` and `migrate --wait --json` print it.
type reportOutput struct {
	ID         string  `json:"id"`
	State      string  `json:"state"`
	Finished   bool    `json:"finished"`
	Total      int64   `json:"uploads_total"`
	Completed  int64   `json:"uploads_completed"`
	Failed     int64   `json:"uploads_failed"`
	Cancelled  int64   `json:"uploads_cancelled"`
	Skipped    int64   `json:"uploads_skipped"`
	BytesTotal int64   `json:"bytes_total"`
	BytesDone  int64   `json:"bytes_done"`
	Duration   float64 `json:"duration_seconds"`
	Failures   []struct {
		Key   string `json:"key"`
		Error string `json:"error"`
	} `json:"failures"`
}

func decodeMigrate(t *testing.T, r result) migrateOutput {
	t.Helper()
	var out migrateOutput
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), "migrate --json printed:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	return out
}

// taskKeys counts asynq's task hashes: every task enqueued and not yet done (completed tasks
// are deleted at once).
func taskKeys(t *testing.T, rdb *redis.Client) int {
	t.Helper()
	keys, err := rdb.Keys(context.Background(), "asynq:{*}:t:*").Result()
	require.NoError(t, err)
	return len(keys)
}

// dataSet writes the files of TestMigrateDirectoryAndManifest below dir: 2,000 files, most
// of them tiny, a few large (up to 40 MiB, around the 5 MiB part size), spread over folders.
// It returns their SHA-256 by path relative to dir, and their total size.
func (s *stack) dataSet(t *testing.T, dir string, n int) (map[string]string, int64) {
	t.Helper()
	sizes := []int64{0, 0, 1, 5*mib - 1, 5 * mib, 5*mib + 1, 16 * mib, 16*mib + 1, 40 * mib}
	rng := rand.New(rand.NewPCG(42, uint64(n)))
	for len(sizes) < n {
		sizes = append(sizes, rng.Int64N(12<<10))
	}
	type file struct {
		rel  string
		size int64
	}
	files := make(chan file)
	var mu sync.Mutex
	sums := map[string]string{}
	var total int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for f := range files {
				sum := s.writeFile(t, filepath.Join(dir, f.rel), f.size)
				mu.Lock()
				sums[f.rel] = sum
				total += f.size
				mu.Unlock()
			}
		})
	}
	exts := []string{".bin", ".txt", ".json", ".jpg", ""}
	for i, size := range sizes {
		files <- file{rel: fmt.Sprintf("d%02d/e%d/file-%04d%s", i%20, i%3, i, exts[i%len(exts)]), size: size}
	}
	close(files)
	wg.Wait()
	return sums, total
}

// requireObjects checks that every file arrived byte-identical under prefix.
func (s *stack) requireObjects(t *testing.T, prefix string, sums map[string]string) {
	t.Helper()
	type mismatch struct {
		key, want, got string
		err            error
	}
	keys := make(chan string)
	bad := make(chan mismatch, len(sums))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for rel := range keys {
				got, err := s.sha256Of(prefix + rel)
				if err != nil || got != sums[rel] {
					bad <- mismatch{prefix + rel, sums[rel], got, err}
				}
			}
		})
	}
	for rel := range sums {
		keys <- rel
	}
	close(keys)
	wg.Wait()
	close(bad)
	for m := range bad {
		t.Errorf("object %s: SHA-256 %s, want %s (%v)", m.key, m.got, m.want, m.err)
	}
}

func requireComplete(t *testing.T, rep *reportOutput, n int, bytes int64) {
	t.Helper()
	require.NotNil(t, rep, "the output has a report")
	require.Equal(t, "completed", rep.State, "failures: %+v", rep.Failures)
	require.True(t, rep.Finished)
	require.Equal(t, [4]int64{int64(n), int64(n), 0, 0}, [4]int64{rep.Total, rep.Completed, rep.Failed, rep.Cancelled})
	require.Equal(t, bytes, rep.BytesTotal, "bytes total")
	require.Equal(t, bytes, rep.BytesDone, "bytes done")
	require.Empty(t, rep.Failures)
	require.Positive(t, rep.Duration)
}

// TestMigrateDirectoryAndManifest migrates 2,000 files from a directory and the same files
// from a manifest, checks every object and the reports, then runs the directory migration
// again and sees nothing enqueued.
func TestMigrateDirectoryAndManifest(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	const n = 2000
	sums, total := s.dataSet(t, "set", n)
	t.Logf("data set: %d files, %d bytes", len(sums), total)
	w1 := s.startWorker(t, "worker-1", "--concurrency", "8")
	w2 := s.startWorker(t, "worker-2", "--concurrency", "8")

	start := time.Now()
	r := s.run(t, nil, "migrate", "--bucket", s.bucket, "--prefix", "dir/", "--source", "set", "--part-size", "5MiB",
		"--wait", "--json")
	require.Equal(t, 0, r.code, "migrate --source: %s\n%s", r.stderr, tail([]byte(r.stdout), 2000))
	dirOut := decodeMigrate(t, r)
	t.Logf("directory migration %s: enqueued %d at %.0f/s; done in %s", dirOut.MigrationID, dirOut.Enqueue.Items,
		dirOut.Enqueue.Rate, time.Since(start).Round(time.Millisecond))
	require.EqualValues(t, n, dirOut.Plan.Valid)
	require.Equal(t, total, dirOut.Plan.Bytes)
	require.EqualValues(t, n, dirOut.Enqueue.Created)
	requireComplete(t, dirOut.Report, n, total)

	// The same files from a manifest, with a content type and metadata on some lines.
	var manifest bytes.Buffer
	for rel := range sums {
		line := map[string]any{"source": "set/" + rel, "key": rel}
		if strings.HasSuffix(rel, "5.bin") {
			line["content_type"] = "application/x-five"
			line["metadata"] = map[string]string{"origin": "manifest", "name": filepath.Base(rel)}
		}
		b, err := json.Marshal(line)
		require.NoError(t, err)
		manifest.Write(append(b, '\n'))
	}
	manifestPath := filepath.Join(t.TempDir(), "set.jsonl")
	require.NoError(t, os.WriteFile(manifestPath, manifest.Bytes(), 0o644))
	start = time.Now()
	r = s.run(t, nil, "migrate", "--bucket", s.bucket, "--prefix", "man/", "--manifest", manifestPath, "--part-size", "5MiB",
		"--priority", "high", "--wait", "--json")
	require.Equal(t, 0, r.code, "migrate --manifest: %s\n%s", r.stderr, tail([]byte(r.stdout), 2000))
	manOut := decodeMigrate(t, r)
	t.Logf("manifest migration %s: enqueued %d at %.0f/s; done in %s", manOut.MigrationID, manOut.Enqueue.Items,
		manOut.Enqueue.Rate, time.Since(start).Round(time.Millisecond))
	requireComplete(t, manOut.Report, n, total)

	s.requireObjects(t, "dir/", sums)
	s.requireObjects(t, "man/", sums)
	ctx := context.Background()
	var five string
	for rel := range sums {
		if strings.HasSuffix(rel, "5.bin") {
			five = rel
			break
		}
	}
	info, err := s.direct.StatObject(ctx, s.bucket, "man/"+five, minio.StatObjectOptions{})
	require.NoError(t, err)
	require.Equal(t, "application/x-five", info.ContentType)
	require.Equal(t, "manifest", info.UserMetadata["Origin"])
	info, err = s.direct.StatObject(ctx, s.bucket, "dir/d01/e1/file-0001.txt", minio.StatObjectOptions{})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(info.ContentType, "text/plain"), "type from the extension, got %q", info.ContentType)
	info, err = s.direct.StatObject(ctx, s.bucket, "dir/d00/e0/file-0000.bin", minio.StatObjectOptions{})
	require.NoError(t, err)
	require.Equal(t, "application/octet-stream", info.ContentType)

	// status ID --json prints the same report.
	r = s.run(t, nil, "status", dirOut.MigrationID, "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var rep reportOutput
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	requireComplete(t, &rep, n, total)

	// Re-running finished migrations enqueues nothing: stop the workers so that anything
	// enqueued would stay visible.
	stopWorker(t, w1)
	stopWorker(t, w2)
	rdb := s.rdb(t)
	require.Zero(t, taskKeys(t, rdb))
	for _, args := range [][]string{
		{"--prefix", "dir/", "--source", "set"},
		{"--prefix", "man/", "--manifest", manifestPath},
	} {
		r = s.run(t, nil, append([]string{"migrate", "--bucket", s.bucket, "--json"}, args...)...)
		require.Equal(t, 0, r.code, r.stderr)
		again := decodeMigrate(t, r)
		require.Contains(t, []string{dirOut.MigrationID, manOut.MigrationID}, again.MigrationID, "the same migration")
		require.Equal(t, [3]int64{0, n, 0}, [3]int64{again.Enqueue.Created, again.Enqueue.Existing, again.Enqueue.Requeued})
	}
	require.Zero(t, taskKeys(t, rdb), "no task may be enqueued by a re-run")
	for _, id := range []string{dirOut.MigrationID, manOut.MigrationID} {
		uploads, err := rdb.ZCard(ctx, "partflow:{"+id+"}:uploads").Result()
		require.NoError(t, err)
		require.EqualValues(t, n, uploads)
	}

	r = s.run(t, nil, "list", "--state", "completed")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, dirOut.MigrationID)
	require.Contains(t, r.stdout, manOut.MigrationID)
	r = s.run(t, nil, "list", "--state", "running", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	require.JSONEq(t, "[]", r.stdout)
}

// TestMigrateKilledMidEnqueue kills the enqueuer halfway through a manifest, then runs it
// again: the migration finishes with every upload exactly once.
func TestMigrateKilledMidEnqueue(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	const n = 3000
	for i := range 10 {
		s.writeFile(t, fmt.Sprintf("src/%d", i), int64(i*100))
	}
	var manifest bytes.Buffer
	for i := range n {
		fmt.Fprintf(&manifest, `{"source":"src/%d","key":"k/%05d"}`+"\n", i%10, i)
	}
	path := filepath.Join(t.TempDir(), "m.jsonl")
	require.NoError(t, os.WriteFile(path, manifest.Bytes(), 0o644))
	args := []string{"migrate", "--bucket", s.bucket, "--manifest", path, "--concurrency", "1"}

	cmd := exec.Command(filepath.Join(binDir, "enqueuer"), args...)
	cmd.Env = s.env()
	stderr, err := os.Create(filepath.Join(s.logs, "enqueuer-killed.log"))
	require.NoError(t, err)
	defer stderr.Close()
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	rdb := s.rdb(t)
	ctx := context.Background()
	migrationKey := func() string {
		keys, _ := rdb.Keys(ctx, "partflow:{*}:migration").Result()
		if len(keys) != 1 {
			return ""
		}
		return keys[0]
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if k := migrationKey(); k != "" {
			if total, _ := rdb.HGet(ctx, k, "uploads_total").Int(); total >= 300 {
				break
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			b, _ := os.ReadFile(stderr.Name())
			t.Fatalf("waiting for the enqueuer to write 300 uploads: %s", b)
		}
		time.Sleep(time.Millisecond)
	}
	// Hold every write, so the kill lands mid-way however fast the enqueuer is.
	require.NoError(t, rdb.Do(ctx, "CLIENT", "PAUSE", 60000, "WRITE").Err())
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	require.NoError(t, rdb.Do(ctx, "CLIENT", "UNPAUSE").Err())
	m, err := rdb.HGetAll(ctx, migrationKey()).Result()
	require.NoError(t, err)
	require.Equal(t, "0", m["sealed"], "the killed run did not seal the migration")
	t.Logf("killed after %s of %d uploads", m["uploads_total"], n)

	s.startWorker(t, "worker-1", "--concurrency", "8")
	s.startWorker(t, "worker-2", "--concurrency", "8")
	r := s.run(t, nil, append(args, "--concurrency", "16", "--wait", "--json")...)
	require.Equal(t, 0, r.code, r.stderr)
	out := decodeMigrate(t, r)
	require.EqualValues(t, n, out.Enqueue.Items)
	require.EqualValues(t, n, out.Enqueue.Created+out.Enqueue.Existing)
	require.Positive(t, out.Enqueue.Existing, "the second run found the first run's uploads")
	var sizes int64
	for i := range n {
		sizes += int64(i%10) * 100
	}
	requireComplete(t, out.Report, n, sizes)

	// Every upload was uploaded exactly once. (A start task the re-run enqueued for an upload
	// it read as planned just before a worker completed it is a no-op, not an upload.)
	require.Equal(t, n, s.logCount(t, "UploadCompleted"), "uploads completed by the workers")
	require.Zero(t, s.logCount(t, "StartLost"), "no two start tasks raced for an upload")
	uploads, err := rdb.ZCard(ctx, strings.Replace(migrationKey(), ":migration", ":uploads", 1)).Result()
	require.NoError(t, err)
	require.EqualValues(t, n, uploads)
	objects := 0
	for obj := range s.direct.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Recursive: true}) {
		require.NoError(t, obj.Err)
		objects++
	}
	require.Equal(t, n, objects)
}

// TestMigrateBadManifestLines: every bad line is reported with its number and nothing is
// enqueued; --skip-invalid enqueues the valid lines (from stdin here) and reports the rest.
func TestMigrateBadManifestLines(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	sumA := s.writeFile(t, "in/a", 1000)
	sumB := s.writeFile(t, "in/b", 2000)
	lines := []string{
		`{"source":"in/a","key":"a"}`,
		`{"source":"in/a","key":"b"`,
		`{"source":"in/a"}`,
		`{"source":"in/a","key":"` + strings.Repeat("k", 1100) + `"}`,
		`{"source":"in/a","key":"c","bucket":"Bad_Bucket"}`,
		`{"source":"../etc/passwd","key":"d"}`,
		`{"source":"http://169.254.169.254/latest/meta-data/","key":"e"}`,
		`{"source":"ftp://example.com/x","key":"f"}`,
		``,
		`{"source":"in/b","key":"g","metadata":{"owner":"ops"}}`,
	}
	want := map[string]string{
		"line 2": "invalid JSON",
		"line 3": `missing "key"`,
		"line 4": "object key is 1100 bytes, longer than S3's limit of 1024",
		"line 5": `invalid bucket name "Bad_Bucket"`,
		"line 6": "contains '..'",
		"line 7": `URL host "169.254.169.254" is not allowed`,
		"line 8": "only http:// and https://",
	}
	manifest := strings.Join(lines, "\n") + "\n"
	path := filepath.Join(t.TempDir(), "bad.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(manifest), 0o644))

	r := s.run(t, nil, "migrate", "--bucket", s.bucket, "--manifest", path)
	require.Equal(t, 2, r.code, r.stderr)
	for where, msg := range want {
		require.Contains(t, r.stderr, "invalid: "+where+": ", where)
		require.Contains(t, r.stderr, msg, where)
	}
	require.Contains(t, r.stderr, "7 invalid items; nothing was enqueued")
	keys, err := s.redisKeys()
	require.NoError(t, err)
	require.Empty(t, keys, "a manifest with bad lines enqueues nothing")

	r = s.run(t, nil, "migrate", "--bucket", s.bucket, "--manifest", path, "--json")
	require.Equal(t, 2, r.code, r.stderr)
	out := decodeMigrate(t, r)
	require.Len(t, out.Invalid, len(want))
	for _, inv := range out.Invalid {
		require.Contains(t, inv.Error, want[inv.Where], inv.Where)
	}
	require.Contains(t, out.Error, "nothing was enqueued")

	// Dry run: the plan, nothing in Redis.
	r = s.run(t, nil, "migrate", "--bucket", s.bucket, "--manifest", path, "--skip-invalid", "--dry-run")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "2 valid, 7 invalid")
	require.Contains(t, r.stdout, s.bucket+"/a")
	require.Contains(t, r.stdout, s.bucket+"/g")
	keys, err = s.redisKeys()
	require.NoError(t, err)
	require.Empty(t, keys, "a dry run enqueues nothing")

	// From stdin, skipping the bad lines.
	s.startWorker(t, "worker", "--concurrency", "4")
	r = s.run(t, strings.NewReader(manifest), "migrate", "--bucket", s.bucket, "--manifest", "-", "--skip-invalid",
		"--wait", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	out = decodeMigrate(t, r)
	require.Len(t, out.Invalid, len(want))
	require.EqualValues(t, 2, out.Enqueue.Items)
	requireComplete(t, out.Report, 2, 3000)
	require.Equal(t, sumA, s.objectSHA256(t, "a"))
	require.Equal(t, sumB, s.objectSHA256(t, "g"))
}

// TestMigrateWaitReportsFailures: --wait exits 1 and the report names every failed upload.
func TestMigrateWaitReportsFailures(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.writeFile(t, "ok", 10)
	s.startWorker(t, "worker")
	var manifest strings.Builder
	manifest.WriteString(`{"source":"ok","key":"ok"}` + "\n")
	for i := range 5 {
		fmt.Fprintf(&manifest, `{"source":"missing/%d","key":"gone/%d"}`+"\n", i, i)
	}
	r := s.run(t, strings.NewReader(manifest.String()), "migrate", "--bucket", s.bucket, "--manifest", "-", "--wait")
	require.Equal(t, 1, r.code, r.stderr)
	require.Contains(t, r.stdout, "(failed)")
	require.Contains(t, r.stdout, "uploads    6: 1 completed, 5 failed, 0 cancelled")
	require.Contains(t, r.stdout, "failed uploads (5):")
	for i := range 5 {
		require.Contains(t, r.stdout, fmt.Sprintf("%s/gone/%d (upload ", s.bucket, i))
	}
	require.Equal(t, 5, strings.Count(r.stdout, "no such file on the volume"))
	// Not a terminal: plain progress lines, no bar.
	require.Contains(t, r.stderr, "objects")
	require.NotContains(t, r.stderr, "\r")

	r = s.run(t, nil, "list", "--state", "failed", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var listed []reportOutput
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &listed), r.stdout)
	require.Len(t, listed, 1)
	require.EqualValues(t, 5, listed[0].Failed)
	r = s.run(t, nil, "status", listed[0].ID, "--watch", "--json")
	require.Equal(t, 1, r.code, "status --watch of a migration with failures: %s", r.stderr)
	var rep reportOutput
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	require.Len(t, rep.Failures, 5)
}

// TestMigrateSkipExisting: a second migration of changed files with --skip-existing uploads
// only what differs.
func TestMigrateSkipExisting(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	const n = 20
	for i := range n {
		s.writeFile(t, fmt.Sprintf("tree/f%02d", i), int64(100+i))
	}
	s.startWorker(t, "worker", "--concurrency", "4")
	r := s.run(t, nil, "migrate", "--bucket", s.bucket, "--source", "tree", "--wait", "--json")
	require.Equal(t, 0, r.code, r.stderr)

	// Same size, other content (and mtime); and another size.
	changed := filepath.Join(s.volume, "tree/f03")
	data, err := os.ReadFile(changed)
	require.NoError(t, err)
	data[0] ^= 0xff
	require.NoError(t, os.WriteFile(changed, data, 0o644))
	grown := s.writeFile(t, "tree/f07", 5000)

	r = s.run(t, nil, "migrate", "--bucket", s.bucket, "--source", "tree", "--id", "second-pass", "--skip-existing",
		"--wait", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	out := decodeMigrate(t, r)
	require.Equal(t, "second-pass", out.MigrationID)
	require.EqualValues(t, n, out.Report.Completed)
	require.EqualValues(t, n-2, out.Report.Skipped, "only the two changed files are uploaded")
	require.Equal(t, grown, s.objectSHA256(t, "f07"))
	obj, err := s.direct.GetObject(context.Background(), s.bucket, "f03", minio.GetObjectOptions{})
	require.NoError(t, err)
	got, err := io.ReadAll(obj)
	obj.Close()
	require.NoError(t, err)
	require.Equal(t, data, got)

	r = s.run(t, nil, "status", "second-pass")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, fmt.Sprintf("%d completed (%d skipped: already in place)", n, n-2))
}

func TestMigrateRejectsBadFlags(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	cases := []struct {
		args    []string
		message string
	}{
		{[]string{"migrate", "--bucket", s.bucket}, "exactly one of --source DIR and --manifest FILE"},
		{[]string{"migrate", "--bucket", s.bucket, "--source", "x", "--manifest", "y"}, "exactly one of"},
		{[]string{"migrate", "--bucket", s.bucket, "--source", "../x"}, "contains '..'"},
		{[]string{"migrate", "--bucket", s.bucket, "--source", "nosuchdir"}, "is not a directory below the volume root"},
		{[]string{"migrate", "--bucket", s.bucket, "--manifest", "/nonexistent.jsonl"}, "no such file"},
		{[]string{"migrate", "--bucket", "Bad_Bucket", "--manifest", "-"}, "invalid bucket name"},
		{[]string{"migrate", "--bucket", s.bucket, "--manifest", "-", "--priority", "urgent"}, "want low, default or high"},
		{[]string{"migrate", "--bucket", s.bucket, "--manifest", "-", "--id", "Bad.ID"}, "invalid migration ID"},
		{[]string{"migrate", "--bucket", s.bucket, "--manifest", "-", "--part-size", "1MiB"}, "part size"},
		{[]string{"list", "--state", "sleeping"}, "unknown --state"},
	}
	for _, c := range cases {
		r := s.run(t, strings.NewReader(`{"source":"a","key":"b"}`), c.args...)
		require.Equal(t, 2, r.code, "%v: %s", c.args, r.stderr)
		require.Contains(t, r.stderr, c.message, c.args)
	}
	keys, err := s.redisKeys()
	require.NoError(t, err)
	require.Empty(t, keys, "bad flags enqueue nothing")
}

// TestStatusListsEveryFailure: a migration with more failed uploads than asynq's archive
// keeps (10,000 per queue) is reported in full by `status ID` (JSON and text), from
// partflow's own failure records.
func TestStatusListsEveryFailure(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	const n = 10_500
	rdb := s.rdb(t)
	store, err := state.New(rdb, state.Config{Retention: time.Hour})
	require.NoError(t, err)
	ctx := context.Background()
	mid := "many-failures"
	_, err = store.CreateMigration(ctx, state.NewMigration{ID: mid, Bucket: s.bucket, Source: "manifest:test", Queue: "default"})
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				key := fmt.Sprintf("k/%05d", i)
				id := state.DeriveUploadID(mid, key)
				if _, err := store.CreateUpload(ctx, state.NewUpload{ID: id, Source: "s", Bucket: s.bucket, Key: key}); err != nil {
					errs <- err
					return
				}
				if _, err := store.Fail(ctx, id, "reason for "+key); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, store.SealMigration(ctx, mid))

	r := s.run(t, nil, "status", mid, "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var rep reportOutput
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	require.Equal(t, "failed", rep.State)
	require.EqualValues(t, n, rep.Failed)
	require.Len(t, rep.Failures, n)
	seen := map[string]bool{}
	for _, f := range rep.Failures {
		require.Equal(t, "reason for "+f.Key, f.Error)
		seen[f.Key] = true
	}
	require.Len(t, seen, n, "every failed upload once")

	r = s.run(t, nil, "status", mid, "--watch")
	require.Equal(t, 1, r.code, "status --watch of a finished migration with failures: %s", r.stderr)
	require.Equal(t, n, strings.Count(r.stdout, ": reason for k/"))
}
