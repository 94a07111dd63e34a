package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/testenv"
)

// sourceObject is what a test put into a source bucket.
type sourceObject struct {
	sha256, contentType string
	meta                map[string]string // user metadata, lower-case keys
}

// sourceSet puts n objects below prefix into bucket of c concurrently: mostly 1-64 KiB, plus
// one object of each size in big; each with its own content type and metadata.
func sourceSet(t *testing.T, c *minio.Client, bucket, prefix string, n int, big ...int64) map[string]sourceObject {
	t.Helper()
	type item struct {
		key  string
		size int64
		i    int
	}
	items := make(chan item)
	var mu sync.Mutex
	objs := make(map[string]sourceObject, n+len(big))
	var errs []error
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for it := range items {
				o, err := putSourceObject(t.Context(), c, bucket, prefix+it.key, it.size, uint64(it.i))
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				objs[it.key] = o
				mu.Unlock()
			}
		})
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		items <- item{key: fmt.Sprintf("obj-%03d.dat", i), size: 1<<10 + r.Int64N(63<<10), i: i}
	}
	for i, size := range big {
		items <- item{key: fmt.Sprintf("big-%d.bin", i), size: size, i: 10000 + i}
	}
	close(items)
	wg.Wait()
	require.Empty(t, errs, "putting the source objects")
	return objs
}

// putSourceObject puts size pseudo-random bytes (from seed) under key with a content type and
// metadata derived from seed.
func putSourceObject(ctx context.Context, c *minio.Client, bucket, key string, size int64, seed uint64) (sourceObject, error) {
	var b bytes.Buffer
	_, _ = io.Copy(&b, io.LimitReader(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 7}), size))
	sum := sha256.Sum256(b.Bytes())
	o := sourceObject{sha256: hex.EncodeToString(sum[:]), contentType: fmt.Sprintf("application/x-pf-%d", seed%5),
		meta: map[string]string{"origin": fmt.Sprint(seed), "team": "source"}}
	_, err := c.PutObject(ctx, bucket, key, &b, size, minio.PutObjectOptions{ContentType: o.contentType,
		UserMetadata: o.meta, PartSize: 5 * mib, DisableMultipart: size <= 5*mib})
	if err != nil {
		return o, fmt.Errorf("put source %s: %w", key, err)
	}
	return o, nil
}

// s3Manifest is a manifest of s3://bucket/prefix+key sources, one per key, under the same keys.
// extra lines go at the end as they are.
func s3Manifest(bucket, prefix string, objs map[string]sourceObject, extra ...string) string {
	var b strings.Builder
	for key := range objs {
		line, _ := json.Marshal(map[string]string{"source": "s3://" + bucket + "/" + prefix + key, "key": key})
		b.Write(line)
		b.WriteByte('\n')
	}
	for _, l := range extra {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// requireCopies checks every object below prefix in the destination: its bytes (SHA-256),
// content type and metadata are the source's, except where want says otherwise.
func (s *stack) requireCopies(t *testing.T, prefix string, objs map[string]sourceObject) {
	t.Helper()
	sums := make(map[string]string, len(objs))
	for k, o := range objs {
		sums[k] = o.sha256
	}
	s.requireObjects(t, prefix, sums)
	for k, o := range objs {
		info, err := s.direct.StatObject(t.Context(), s.bucket, prefix+k, minio.StatObjectOptions{})
		require.NoError(t, err, "stat %s", k)
		require.Equal(t, o.contentType, info.ContentType, "content type of %s", k)
		got := map[string]string{}
		for mk, mv := range info.UserMetadata {
			got[strings.ToLower(mk)] = mv
		}
		for mk, mv := range o.meta {
			require.Equal(t, mv, got[mk], "metadata %q of %s (has %v)", mk, k, got)
		}
	}
}

// migrateExpectingOneFailure runs migrate --wait --json on manifest and returns its report, expecting
// exactly the upload of victimKey to fail.
func (s *stack) migrateExpectingOneFailure(t *testing.T, manifest, victimKey string, args ...string) *reportOutput {
	t.Helper()
	r := s.run(t, strings.NewReader(manifest), append([]string{"migrate", "--bucket", s.bucket, "--manifest", "-",
		"--wait", "--json"}, args...)...)
	out := decodeMigrate(t, r)
	require.NotNil(t, out.Report, "migrate printed a report: %s", r.stderr)
	require.Equal(t, int64(1), out.Report.Failed, "failures: %+v", out.Report.Failures)
	require.Len(t, out.Report.Failures, 1)
	require.True(t, strings.HasSuffix(out.Report.Failures[0].Key, victimKey), "the failed upload is %s", out.Report.Failures[0].Key)
	require.Contains(t, out.Report.Failures[0].Error, "source changed")
	require.NotZero(t, r.code, "migrate --wait exits non-zero when an upload failed")
	return out.Report
}

// overwriteOnce returns a fault function that, the first time match sees a request, overwrites
// bucket/key on c (directly, not through the proxy) before the request goes on: a source
// changed mid-migration.
func overwriteOnce(c *minio.Client, bucket, key string, errs *[]error, match func(testenv.Request) bool) func(testenv.Request) testenv.Fault {
	var once sync.Once
	return func(r testenv.Request) testenv.Fault {
		if match(r) {
			once.Do(func() {
				if _, err := putSourceObject(context.Background(), c, bucket, key, 6*mib, 999); err != nil {
					*errs = append(*errs, err)
				}
			})
		}
		return testenv.Fault{}
	}
}

// TestMigrateS3ToS3 migrates 500 mixed-size objects (content types and metadata set, three
// multipart) from a second S3 store through a manifest of s3:// sources: every object arrives
// byte-identical with its content type and metadata (a manifest line's own win), every part
// is a ranged GET pinned with If-Match, and a source overwritten mid-migration fails its
// upload with "source changed".
func TestMigrateS3ToS3(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	src := testenv.S3(t)
	srcBucket := testenv.Bucket(t, src)
	srcClient := testenv.MinioClient(t, src.Endpoint, src)
	objs := sourceSet(t, srcClient, srcBucket, "data/", 500, 5*mib+1, 11*mib, 7*mib)
	_, err := putSourceObject(t.Context(), srcClient, srcBucket, "data/victim.bin", 6*mib, 5)
	require.NoError(t, err)

	proxy := testenv.NewProxy(t, src.Endpoint)
	var overwriteErrs []error
	proxy.SetFault(overwriteOnce(srcClient, srcBucket, "data/victim.bin", &overwriteErrs, func(r testenv.Request) bool {
		return r.Op == testenv.OpGetObject && r.Key == "data/victim.bin"
	}))
	s.extraEnv = []string{"PARTFLOW_SOURCE_AWS_ACCESS_KEY_ID=" + src.AccessKey,
		"PARTFLOW_SOURCE_AWS_SECRET_ACCESS_KEY=" + src.SecretKey}
	s.startWorker(t, "w1", "--source-s3-endpoint", proxy.URL(), "--concurrency", "16")

	// A line's own content type and metadata win over the source's (metadata key by key).
	override := objs["obj-001.dat"]
	delete(objs, "obj-001.dat")
	overrideLine := fmt.Sprintf(`{"source":"s3://%s/data/obj-001.dat","key":"obj-001.dat","content_type":"text/x-line",`+
		`"metadata":{"team":"line"}}`, srcBucket)
	victimLine := fmt.Sprintf(`{"source":"s3://%s/data/victim.bin","key":"victim.bin"}`, srcBucket)
	rep := s.migrateExpectingOneFailure(t, s3Manifest(srcBucket, "data/", objs, overrideLine, victimLine), "victim.bin",
		"--prefix", "copied/", "--part-size", "5MiB")
	require.Empty(t, overwriteErrs)
	require.Equal(t, int64(len(objs)+1), rep.Completed)

	s.requireCopies(t, "copied/", objs)
	override.contentType, override.meta["team"] = "text/x-line", "line"
	s.requireCopies(t, "copied/", map[string]sourceObject{"obj-001.dat": override})
	_, err = s.direct.StatObject(t.Context(), s.bucket, "copied/victim.bin", minio.StatObjectOptions{})
	require.Error(t, err, "the changed source left no object")

	// put takes an s3:// source too; the source's content type stands in for the key's guess.
	r := s.enqueuer(t, "put", "--source", "s3://"+srcBucket+"/data/big-1.bin", "--bucket", s.bucket,
		"--key", "put/big.json", "--part-size", "5MiB", "--wait")
	require.Zero(t, r.code, "put: %s %s", r.stdout, r.stderr)
	s.requireCopies(t, "put/", map[string]sourceObject{"big.json": objs["big-1.bin"]})

	gets := 0
	for _, ex := range proxy.Exchanges() {
		if ex.Op != testenv.OpGetObject {
			continue
		}
		gets++
		require.NotEmpty(t, ex.Header.Get("If-Match"), "GET %s is pinned with If-Match", ex.Path)
		require.NotEmpty(t, ex.Header.Get("Range"), "GET %s is ranged", ex.Path)
		if ex.Key != "data/victim.bin" {
			require.Equal(t, http.StatusPartialContent, ex.Status, "GET %s", ex.Path)
		}
	}
	require.GreaterOrEqual(t, gets, len(objs)+2+1, "one GET per small object, one per part")
	t.Logf("source GETs: %d for %d objects", gets, len(objs)+2)
}

// TestMigrateS3SameEndpointCopies migrates from a bucket of the destination's own store: parts
// are UploadPartCopy and small objects CopyObject (seen at the proxy as x-amz-copy-source),
// no byte of a source is read through the worker, and a source overwritten between the plan
// and a part copy fails its upload with "source changed".
func TestMigrateS3SameEndpointCopies(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	srcBucket := testenv.Bucket(t, s.s3)
	objs := sourceSet(t, s.direct, srcBucket, "in/", 20, 11*mib, 6*mib)
	_, err := putSourceObject(t.Context(), s.direct, srcBucket, "in/victim.bin", 6*mib, 5)
	require.NoError(t, err)

	proxy := testenv.NewProxy(t, s.s3.Endpoint)
	var overwriteErrs []error
	proxy.SetFault(overwriteOnce(s.direct, srcBucket, "in/victim.bin", &overwriteErrs, func(r testenv.Request) bool {
		return r.Op == testenv.OpUploadPart && r.Key == "victim.bin"
	}))
	s.startWorker(t, "w1", "--s3-endpoint", proxy.URL(), "--source-s3-endpoint", proxy.URL(),
		"--source-s3-credentials", "destination")

	victimLine := fmt.Sprintf(`{"source":"s3://%s/in/victim.bin","key":"victim.bin"}`, srcBucket)
	rep := s.migrateExpectingOneFailure(t, s3Manifest(srcBucket, "in/", objs, victimLine), "victim.bin", "--part-size", "5MiB")
	require.Empty(t, overwriteErrs)
	require.Equal(t, int64(len(objs)), rep.Completed)
	s.requireCopies(t, "", objs)

	copies, moved := 0, 0
	for _, ex := range proxy.Exchanges() {
		if ex.Header.Get("X-Amz-Copy-Source") != "" {
			copies++
			continue
		}
		switch {
		case ex.Op == testenv.OpUploadPart, ex.Op == testenv.OpPutObject,
			ex.Op == testenv.OpGetObject && strings.HasPrefix(ex.Path, "/"+srcBucket+"/"):
			moved++
			t.Errorf("bytes moved through the worker: %s %s", ex.Method, ex.Path)
		}
	}
	// 20 CopyObject, 3 + 2 UploadPartCopy, at least one for the victim.
	require.GreaterOrEqual(t, copies, 26, "server-side copies")
	require.Zero(t, moved)
	t.Logf("copy requests: %d", copies)
}
