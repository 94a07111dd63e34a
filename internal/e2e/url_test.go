package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/localstack"
	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/testenv"
	"github.com/partflow/partflow/internal/worker"
	"github.com/partflow/partflow/storage"
	"github.com/partflow/partflow/tasks"
)

// urlOrigin is an HTTP origin for URL sources: it serves one object with range support
// (http.ServeContent, strong ETag) and records every request. misbehave, when set, may answer
// a request instead; n numbers the part reads (range GETs other than the size probe) from 1,
// and is 0 for other requests.
type urlOrigin struct {
	*httptest.Server
	mu        sync.Mutex
	data      []byte
	etag      string
	reqs      []urlRequest
	partGETs  int
	misbehave func(w http.ResponseWriter, r *http.Request, o *urlOrigin, n int) bool
}

type urlRequest struct {
	method, path, rng string
	header            http.Header
	at                time.Time
}

func newURLOrigin(t *testing.T, size int, seed byte) *urlOrigin {
	t.Helper()
	o := &urlOrigin{data: pseudoRandom(size, seed), etag: fmt.Sprintf(`"v1-%d"`, seed)}
	o.Server = httptest.NewServer(http.HandlerFunc(o.serve))
	t.Cleanup(o.Close)
	return o
}

func (o *urlOrigin) serve(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.reqs = append(o.reqs, urlRequest{method: r.Method, path: r.URL.Path, rng: r.Header.Get("Range"),
		header: r.Header.Clone(), at: time.Now()})
	n := 0
	if isPartGET(r) {
		o.partGETs++
		n = o.partGETs
	}
	misbehave, data, etag := o.misbehave, o.data, o.etag
	o.mu.Unlock()
	if misbehave != nil && misbehave(w, r, o, n) {
		return
	}
	w.Header().Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

// setMisbehave sets o.misbehave (under the lock: the server is running).
func (o *urlOrigin) setMisbehave(f func(w http.ResponseWriter, r *http.Request, o *urlOrigin, n int) bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.misbehave = f
}

func (o *urlOrigin) requests() []urlRequest {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]urlRequest(nil), o.reqs...)
}

// rangeGETs counts the range requests that reached the origin.
func (o *urlOrigin) rangeGETs() int {
	n := 0
	for _, r := range o.requests() {
		if r.method == http.MethodGet && r.rng != "" {
			n++
		}
	}
	return n
}

func (o *urlOrigin) sha256() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	sum := sha256.Sum256(o.data)
	return hex.EncodeToString(sum[:])
}

func pseudoRandom(size int, seed byte) []byte {
	b := make([]byte, size)
	_, _ = mathrand.NewChaCha8([32]byte{seed, byte(size), byte(size >> 8), byte(size >> 16)}).Read(b)
	return b
}

// isPartGET reports a range request for more than the probe's one byte.
func isPartGET(r *http.Request) bool {
	return r.Method == http.MethodGet && r.Header.Get("Range") != "" && r.Header.Get("Range") != "bytes=0-0"
}

func newSecret(t *testing.T) string {
	b := make([]byte, 12)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return "s3cr3t-" + hex.EncodeToString(b)
}

// redisMonitor records every command Redis runs (redis-cli monitor) until stopped.
type redisMonitor struct {
	cmd *exec.Cmd
	out *os.File
}

func monitorRedis(t *testing.T, r *localstack.Redis) *redisMonitor {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "monitor.log"))
	require.NoError(t, err)
	cmd := exec.Command("redis-cli", "--no-auth-warning", "-u", r.URL(), "monitor")
	cmd.Stdout, cmd.Stderr = f, f
	require.NoError(t, cmd.Start())
	m := &redisMonitor{cmd: cmd, out: f}
	t.Cleanup(func() { m.stop() })
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(f.Name())
		return bytes.Contains(b, []byte("OK"))
	}, 10*time.Second, 10*time.Millisecond, "waiting for redis-cli monitor to start")
	return m
}

// stop ends the monitor and returns what it recorded.
func (m *redisMonitor) stop() string {
	if m.cmd.ProcessState == nil {
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		_ = m.cmd.Wait()
		_ = m.out.Close()
	}
	b, _ := os.ReadFile(m.out.Name())
	return string(b)
}

// --- Through the real binaries ---------------------------------------------------------------

// urlWorkerArgs lets a worker process read the test origins on 127.0.0.1.
var urlWorkerArgs = []string{"--allow-url-host", "127.0.0.1", "--url-allow-addr", "127.0.0.1/32"}

func TestURLSource100MiBThroughTwoWorkerProcesses(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	o := newURLOrigin(t, 100*mib, 1)
	o.setMisbehave(func(_ http.ResponseWriter, r *http.Request, _ *urlOrigin, _ int) bool {
		if isPartGET(r) {
			time.Sleep(200 * time.Millisecond) // a slow origin, so that both workers get parts
		}
		return false
	})
	for _, name := range []string{"worker-1", "worker-2"} {
		s.startWorker(t, name, append([]string{"--concurrency", "2", "--log-level", "debug"}, urlWorkerArgs...)...)
	}

	src := o.URL + "/exports/big.bin?X-Amz-Signature=abc123"
	r := s.enqueuer(t, "put", "--source", src, "--bucket", s.bucket, "--key", "big.bin", "--part-size", "5MiB",
		"--wait", "--json")
	require.Equal(t, 0, r.code, "put: %s %s", r.stdout, r.stderr)
	var st client.UploadStatus
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st), r.stdout)
	require.Equal(t, "completed", st.State, st.Error)
	require.EqualValues(t, 100*mib, st.Size)
	require.Equal(t, 20, st.Parts)
	require.Equal(t, o.sha256(), s.objectSHA256(t, "big.bin"), "the object must be byte-identical")

	parts := map[string]bool{}
	for _, req := range o.requests() {
		if req.method != http.MethodGet || req.rng == "bytes=0-0" {
			continue
		}
		require.Equal(t, `"v1-1"`, req.header.Get("If-Match"), "every part read is guarded by the ETag")
		require.Equal(t, "identity", req.header.Get("Accept-Encoding"))
		parts[req.rng] = true
	}
	require.Len(t, parts, 20, "one range per part")
	require.True(t, parts[fmt.Sprintf("bytes=%d-%d", 95*mib, 100*mib-1)], "the last part's range")
	for _, name := range []string{"worker-1", "worker-2"} {
		b, err := os.ReadFile(filepath.Join(s.logs, name+".log"))
		require.NoError(t, err)
		require.Contains(t, string(b), "PartUploaded", "%s must have uploaded parts too", name)
		require.NotContains(t, string(b), "abc123", "%s logged a presigned URL's query", name)
	}
	s.requireNoMultipart(t)
}

func TestURLSecretHeaderStaysWithItsHost(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	secret := newSecret(t)
	home := newURLOrigin(t, 12*mib, 2)  // asked for as http://localhost:PORT; needs the secret
	other := newURLOrigin(t, 12*mib, 2) // a redirect target on another host (127.0.0.1)
	home.setMisbehave(func(w http.ResponseWriter, r *http.Request, _ *urlOrigin, _ int) bool {
		switch {
		case r.URL.Path == "/denied":
			w.Header().Set("WWW-Authenticate", r.Header.Get("Authorization")) // echoes it back
			http.Error(w, "denied for "+r.Header.Get("Authorization"), http.StatusForbidden)
		case r.Header.Get("Authorization") != "Bearer "+secret:
			http.Error(w, "no token", http.StatusUnauthorized)
		case r.URL.Path == "/away":
			http.Redirect(w, r, other.URL+"/obj", http.StatusFound)
		default:
			return false
		}
		return true
	})
	headers := filepath.Join(t.TempDir(), "headers.json")
	require.NoError(t, os.WriteFile(headers, []byte(`{"http://localhost": {"Authorization": "Bearer `+secret+`"}}`), 0o600))
	mon := monitorRedis(t, s.redis)
	s.startWorker(t, "worker", "--log-level", "debug", "--allow-url-host", "localhost,127.0.0.1",
		"--url-allow-addr", "127.0.0.1/32", "--url-headers-file", headers)
	base := strings.Replace(home.URL, "127.0.0.1", "localhost", 1)

	var outputs []string
	for _, c := range []struct{ path, state, message string }{
		{"/obj", "completed", ""},
		{"/away", "completed", ""},
		{"/denied", "failed", "403 Forbidden"},
	} {
		r := s.enqueuer(t, "put", "--source", base+c.path, "--bucket", s.bucket, "--key", "k"+c.path,
			"--part-size", "5MiB", "--wait", "--json")
		outputs = append(outputs, r.stdout, r.stderr)
		var st client.UploadStatus
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &st), "%s: %s %s", c.path, r.stdout, r.stderr)
		require.Equal(t, c.state, st.State, "%s: %s", c.path, st.Error)
		require.Contains(t, st.Error, c.message, c.path)
		if c.state == "completed" {
			require.Equal(t, home.sha256(), s.objectSHA256(t, "k"+c.path), c.path)
		}
	}

	for _, req := range home.requests() {
		require.Equal(t, "Bearer "+secret, req.header.Get("Authorization"), "%s %s: the host gets its header", req.method, req.path)
	}
	require.NotEmpty(t, other.requests())
	for _, req := range other.requests() {
		require.Empty(t, req.header.Get("Authorization"), "%s %s: the secret followed a redirect to another host",
			req.method, req.path)
		for name, values := range req.header {
			require.NotContains(t, strings.Join(values, " "), secret, "header %s", name)
		}
	}

	b, err := os.ReadFile(filepath.Join(s.logs, "worker.log"))
	require.NoError(t, err)
	logs := string(b)
	require.Contains(t, logs, "UploadFailed", "the log is captured")
	require.Contains(t, logs, `"url_header_hosts":["http://localhost"]`, "the worker names the hosts it has headers for")
	require.NotContains(t, logs, secret, "the secret appears in a log line")
	for _, out := range outputs {
		require.NotContains(t, out, secret, "the secret appears in the enqueuer's output")
	}
	commands := mon.stop()
	require.Contains(t, commands, "localhost", "the monitor saw the uploads' records")
	require.Contains(t, commands, "asynq:", "the monitor saw the task payloads")
	require.NotContains(t, commands, secret, "the secret reached Redis (a payload, record or error)")
}

func TestURLSourceValidationAndDisabledWorkers(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	for _, c := range []struct{ src, message string }{
		{"http://user:hunter2@127.0.0.1/x", "carries credentials"},
		{"ftp://127.0.0.1/x", "only http:// and https://"},
		{"http:///x", "no host"},
	} {
		r := s.enqueuer(t, "put", "--source", c.src, "--bucket", s.bucket, "--key", "k")
		require.Equal(t, 2, r.code, "%s: %s", c.src, r.stderr)
		require.Contains(t, r.stderr, c.message, c.src)
		require.NotContains(t, r.stderr+r.stdout, "hunter2", "a password in a URL is never repeated")
	}
	keys, err := s.redisKeys()
	require.NoError(t, err)
	require.Empty(t, keys, "invalid URLs enqueue nothing")

	// A worker without --allow-url-host fails URL uploads with the reason, and one without a
	// volume fails volume uploads likewise.
	o := newURLOrigin(t, 100, 3)
	s.writeFile(t, "f", 100)
	s.startWorker(t, "volume-only")
	r := s.enqueuer(t, "put", "--source", o.URL+"/x", "--bucket", s.bucket, "--key", "u", "--wait")
	require.Equal(t, 1, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "URL sources are not enabled on this worker: set --allow-url-host")
	require.Empty(t, o.requests())

	cmd := exec.Command(filepath.Join(binDir, "worker"), "--volume-root", "")
	cmd.Env = s.env()
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "set --volume-root (PARTFLOW_VOLUME_ROOT), --allow-url-host (PARTFLOW_ALLOW_URL_HOSTS), --source-s3-endpoint (PARTFLOW_SOURCE_S3_ENDPOINT) or several")
	cmd = exec.Command(filepath.Join(binDir, "worker"), "--url-allow-private")
	cmd.Env = s.env()
	out, err = cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "need --allow-url-host")
}

// --- In-process workers against misbehaving origins ------------------------------------------

// urlStack is Redis, versitygw and an in-process worker (the wiring of cmd/worker) whose
// sources are URLs only; its logs go to a buffer.
type urlStack struct {
	redis  *localstack.Redis
	client *client.Client
	direct *minio.Client
	bucket string
	logs   *testenv.Buffer
}

// quickRetry retries at once, except that a server's Retry-After is honoured as in
// production (tasks.RetryDelay).
func quickRetry(n int, err error, task *asynq.Task) time.Duration {
	if ra, ok := errors.AsType[interface {
		error
		RetryAfter() time.Duration
	}](err); ok && ra.RetryAfter() > 0 {
		return tasks.RetryDelay(n, err, task)
	}
	return 20 * time.Millisecond
}

func newURLStack(t *testing.T, cfg source.URLConfig) *urlStack {
	t.Helper()
	s := &urlStack{redis: testenv.Redis(t), logs: &testenv.Buffer{}}
	rdb := testenv.RedisClient(t, s.redis)
	s3 := testenv.S3(t)
	s.direct = testenv.MinioClient(t, s3.Endpoint, s3)
	s.bucket = testenv.Bucket(t, s3)
	st, err := storage.NewMinio(storage.Config{Endpoint: s3.Endpoint, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey,
		MaxRetries: 1})
	require.NoError(t, err)
	t.Cleanup(st.CloseIdleConnections)
	urls, err := source.NewURLReader(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = urls.Close() })
	log := slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w, err := worker.New(worker.Config{Redis: rdb, S3: st, Sources: source.Mux{URL: urls}, Logger: log,
		Concurrency: 4, ShutdownTimeout: 5 * time.Second, Retention: time.Hour, PollInterval: 20 * time.Millisecond,
		RetryDelay: quickRetry, PartRetries: 4, JanitorInterval: -1})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	t.Cleanup(w.Shutdown)
	s.client, err = client.New(rdb, client.Config{Retention: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.client.Close() })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker log:\n%s", tail([]byte(s.logs.String()), 8000))
		}
	})
	return s
}

func (s *urlStack) put(t *testing.T, src, key string) client.UploadID {
	t.Helper()
	id, err := s.client.Put(context.Background(), client.PutRequest{Source: src, Bucket: s.bucket, Key: key,
		PartSize: storage.MinPartSize})
	require.NoError(t, err, src)
	return id
}

func (s *urlStack) wait(t *testing.T, id client.UploadID) client.Upload {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	u, err := s.client.WaitUpload(ctx, id, nil)
	require.NoError(t, err, "waiting for upload %s (last state %s, %d/%d parts)", id, u.State, u.PartsDone, u.Parts)
	return u
}

func (s *urlStack) objectSHA256(t *testing.T, key string) string {
	t.Helper()
	return testenv.ObjectSHA256(t, s.direct, s.bucket, key)
}

func (s *urlStack) requireNoObject(t *testing.T, key string) {
	t.Helper()
	_, err := s.direct.StatObject(context.Background(), s.bucket, key, minio.StatObjectOptions{})
	require.Error(t, err, "no object may exist at %s", key)
	require.Equal(t, "NoSuchKey", minio.ToErrorResponse(err).Code, key)
}

func TestURLMisbehavingOrigins(t *testing.T) {
	t.Parallel()
	secret := newSecret(t)
	redirectTarget := newURLOrigin(t, 12*mib, 9)
	s := newURLStack(t, source.URLConfig{
		AllowHosts: []string{"127.0.0.1"},
		AllowAddrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Headers:    map[string]http.Header{"http://127.0.0.1": {"Authorization": {"Bearer " + secret}}},
		Timeout:    time.Second, // long enough for a loaded machine, short enough for the hang cases
	})

	const size = 12 * mib // three parts of 5 MiB
	type check func(t *testing.T, o *urlOrigin, u client.Upload)
	completed := func(t *testing.T, o *urlOrigin, u client.Upload) {
		require.Equal(t, client.StateCompleted, u.State, u.Error)
		require.Equal(t, o.sha256(), s.objectSHA256(t, u.Key), "the object must be byte-identical")
	}
	// A failed upload leaves no object. (Its multipart upload is aborted, but a part still
	// uploading meanwhile can bring it back on versitygw; the janitor deals with those.)
	failed := func(reason string) check {
		return func(t *testing.T, _ *urlOrigin, u client.Upload) {
			require.Equal(t, client.StateFailed, u.State)
			require.Contains(t, u.Error, reason)
			s.requireNoObject(t, u.Key)
		}
	}
	var busy answers               // the 503s sent
	release := make(chan struct{}) // origins that hang are released when the test ends
	t.Cleanup(func() { close(release) })

	cases := []struct {
		name      string
		size      int
		path      string
		misbehave func(w http.ResponseWriter, r *http.Request, o *urlOrigin, n int) bool
		check     check
		after     func(t *testing.T, o *urlOrigin)
	}{
		{name: "well behaved", size: size, check: completed},
		{name: "ignores Range", size: size,
			misbehave: func(w http.ResponseWriter, r *http.Request, o *urlOrigin, _ int) bool {
				if !isPartGET(r) {
					return false
				}
				w.Header().Set("ETag", o.etag)
				_, _ = w.Write(o.data)
				return true
			},
			check: failed("ignored the Range header (200 OK with the whole source")},
		{name: "ignores Range, small object", size: mib,
			misbehave: func(w http.ResponseWriter, r *http.Request, o *urlOrigin, _ int) bool {
				if r.Method != http.MethodGet {
					return false
				}
				w.Header().Set("ETag", o.etag)
				_, _ = w.Write(o.data)
				return true
			},
			check: completed},
		{name: "wrong Content-Range", size: size,
			misbehave: func(w http.ResponseWriter, r *http.Request, o *urlOrigin, _ int) bool {
				if !isPartGET(r) || strings.HasPrefix(r.Header.Get("Range"), "bytes=0-") {
					return false
				}
				w.Header().Set("ETag", o.etag)
				w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", 5*mib-1, len(o.data)))
				w.WriteHeader(http.StatusPartialContent)
				_, _ = w.Write(o.data[:5*mib])
				return true
			},
			check: failed(fmt.Sprintf(`answered Content-Range "bytes 0-%d/%d" for bytes=`, 5*mib-1, size))},
		{name: "fewer bytes than promised, twice", size: size,
			misbehave: shortBodies(2),
			check:     completed,
			after: func(t *testing.T, o *urlOrigin) {
				require.GreaterOrEqual(t, o.rangeGETs(), 2+3, "two short answers, then every part")
			}},
		{name: "fewer bytes than promised, always", size: size,
			misbehave: shortBodies(1000),
			check:     failed("the response ended after")},
		{name: "new ETag between parts", size: size,
			misbehave: func(w http.ResponseWriter, r *http.Request, _ *urlOrigin, n int) bool {
				if n < 2 { // the first part read sees the planned version, later ones a new one
					return false
				}
				w.Header().Set("ETag", `"v2"`)
				http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(pseudoRandom(size, 99)))
				return true
			},
			check: failed("412 Precondition Failed: the source changed since the upload was planned")},
		{name: "503 with Retry-After twice", size: size,
			misbehave: func(w http.ResponseWriter, r *http.Request, _ *urlOrigin, n int) bool {
				if n < 1 || n > 2 {
					return false
				}
				busy.record(r.Header.Get("Range"))
				w.Header().Set("Retry-After", "1")
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return true
			},
			check: completed,
			after: func(t *testing.T, o *urlOrigin) {
				require.Len(t, busy.list(), 2)
				for _, b := range busy.list() {
					var next time.Time
					for _, r := range o.requests() {
						if r.rng == b.rng && r.at.After(b.at) {
							next = r.at
							break
						}
					}
					require.False(t, next.IsZero(), "%s was read again after its 503", b.rng)
					require.GreaterOrEqual(t, next.Sub(b.at), 900*time.Millisecond, "%s: Retry-After: 1 was not honoured", b.rng)
				}
			}},
		{name: "hangs past the timeout once", size: size,
			misbehave: func(w http.ResponseWriter, r *http.Request, o *urlOrigin, n int) bool {
				if n != 1 {
					return false
				}
				var first, last int
				_, _ = fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &first, &last)
				w.Header().Set("ETag", o.etag)
				w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, len(o.data)))
				w.WriteHeader(http.StatusPartialContent)
				_, _ = w.Write(o.data[first : first+1000])
				w.(http.Flusher).Flush()
				select { // the body stalls (the client gives up and closes; then this returns)
				case <-release:
				case <-r.Context().Done():
				}
				return true
			},
			check: completed,
			after: func(t *testing.T, o *urlOrigin) {
				require.GreaterOrEqual(t, o.rangeGETs(), 4, "the stalled part was read again")
			}},
		{name: "hangs always", size: size,
			misbehave: func(_ http.ResponseWriter, r *http.Request, _ *urlOrigin, _ int) bool {
				select { // no answer at all (the client gives up and closes; then this returns)
				case <-release:
				case <-r.Context().Done():
				}
				return true
			},
			check: failed("no answer from the server for 1s")},
		{name: "not found", size: size, path: "/missing",
			misbehave: func(w http.ResponseWriter, r *http.Request, _ *urlOrigin, _ int) bool {
				http.NotFound(w, r)
				return true
			},
			check: failed("404 Not Found: source not found")},
		{name: "redirect to a disallowed host", size: size,
			misbehave: func(w http.ResponseWriter, r *http.Request, _ *urlOrigin, _ int) bool {
				http.Redirect(w, r, strings.Replace(redirectTarget.URL, "127.0.0.1", "localhost", 1)+"/obj", http.StatusFound)
				return true
			},
			check: failed(`host "localhost" is not in the worker's allowed URL hosts`),
			after: func(t *testing.T, _ *urlOrigin) {
				require.Empty(t, redirectTarget.requests(), "the disallowed target got no request")
			}},
	}

	origins := make([]*urlOrigin, len(cases))
	ids := make([]client.UploadID, len(cases))
	for i, c := range cases {
		o := newURLOrigin(t, c.size, byte(i+1))
		o.setMisbehave(c.misbehave)
		origins[i] = o
		path := c.path
		if path == "" {
			path = "/obj"
		}
		ids[i] = s.put(t, o.URL+path, fmt.Sprintf("case-%d", i))
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := s.wait(t, ids[i])
			c.check(t, origins[i], u)
			if c.after != nil {
				c.after(t, origins[i])
			}
			require.NotContains(t, u.Error, secret)
		})
	}

	for _, o := range origins {
		for _, r := range o.requests() {
			require.Equal(t, "Bearer "+secret, r.header.Get("Authorization"), "the configured host gets its header")
		}
	}
	logs := s.logs.String()
	require.Contains(t, logs, "TaskRetry", "the log is captured")
	require.Contains(t, logs, "UploadFailed")
	require.NotContains(t, logs, secret, "a secret header appears in a log line")
}

// answers records answers an origin gave, by range.
type answers struct {
	mu   sync.Mutex
	sent []answer
}

type answer struct {
	rng string
	at  time.Time
}

func (a *answers) record(rng string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sent = append(a.sent, answer{rng: rng, at: time.Now()})
}

func (a *answers) list() []answer {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]answer(nil), a.sent...)
}

// shortBodies answers the first k part reads with half the promised bytes.
func shortBodies(k int) func(w http.ResponseWriter, r *http.Request, o *urlOrigin, n int) bool {
	return func(w http.ResponseWriter, r *http.Request, o *urlOrigin, n int) bool {
		if n < 1 || n > k {
			return false
		}
		var first, last int
		_, _ = fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &first, &last)
		w.Header().Set("ETag", o.etag)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, len(o.data)))
		w.Header().Set("Content-Length", fmt.Sprint(last-first+1))
		w.WriteHeader(http.StatusPartialContent)
		_, _ = w.Write(o.data[first : first+(last-first+1)/2]) // then the connection closes
		return true
	}
}

func TestURLUnsafeAddressesFail(t *testing.T) {
	t.Parallel()
	o := newURLOrigin(t, 6*mib, 5) // on 127.0.0.1, which this worker may not reach
	_, port, _ := strings.Cut(strings.TrimPrefix(o.URL, "http://"), ":")
	resolved := map[string]string{"loopback.test": "127.0.0.1", "metadata.test": "169.254.169.254",
		"private.test": "10.0.0.1"}
	s := newURLStack(t, source.URLConfig{
		AllowHosts: []string{"*.test", "127.0.0.1"},
		Resolver: func(_ context.Context, host string) ([]netip.Addr, error) {
			a, ok := resolved[host]
			if !ok {
				return nil, fmt.Errorf("no such host %s", host)
			}
			return []netip.Addr{netip.MustParseAddr(a)}, nil
		},
		Timeout: 5 * time.Second,
	})
	cases := []struct{ host, reason string }{
		{"loopback.test", "refusing to connect to loopback.test: 127.0.0.1 (loopback)"},
		{"metadata.test", "refusing to connect to metadata.test: 169.254.169.254 (cloud metadata)"},
		{"private.test", "refusing to connect to private.test: 10.0.0.1 (private)"},
		{"127.0.0.1", "refusing to connect to 127.0.0.1: 127.0.0.1 (loopback)"},
	}
	ids := make([]client.UploadID, len(cases))
	for i, c := range cases {
		ids[i] = s.put(t, "http://"+c.host+":"+port+"/obj", "k-"+c.host)
	}
	for i, c := range cases {
		u := s.wait(t, ids[i])
		require.Equal(t, client.StateFailed, u.State, c.host)
		require.Contains(t, u.Error, c.reason, c.host)
		require.Contains(t, u.Error, "source not allowed", c.host)
		s.requireNoObject(t, "k-"+c.host)
	}
	require.Empty(t, o.requests(), "no connection reached the origin")
	require.NotContains(t, s.logs.String(), "TaskRetry", "a refused address fails at once, without retries")
}
