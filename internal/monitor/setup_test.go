package monitor_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/partflow/partflow/internal/localstack"
	"github.com/partflow/partflow/internal/monitor"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hibiken/asynq/internal/rdb.(*RDB).ListLeaseExpired"))
}

const testToken = "test-token-0123456789abcdef"

// bundle is one test's monitor on its own redis-server.
type bundle struct {
	ctx   context.Context
	redis *localstack.Redis
	rdb   *redis.Client
	store *state.Store
	mon   *monitor.Monitor
	srv   *httptest.Server
}

// setup starts a redis-server and a monitor (token testToken unless cfg changes it) behind an
// httptest server.
func setup(t *testing.T, configure ...func(*monitor.Config)) *bundle {
	t.Helper()
	b := &bundle{ctx: t.Context()}
	b.redis = testenv.Redis(t)
	b.rdb = testenv.RedisClient(t, b.redis)
	var err error
	b.store, err = state.New(b.rdb, state.Config{Retention: time.Hour})
	require.NoError(t, err)
	cfg := monitor.Config{Redis: redisOpt(b.redis), Token: testToken, Logger: testLogger()}
	for _, c := range configure {
		c(&cfg)
	}
	b.mon, err = monitor.New(cfg)
	require.NoError(t, err)
	b.srv = httptest.NewServer(b.mon)
	t.Cleanup(b.srv.Close)
	t.Cleanup(func() { require.NoError(t, b.mon.Close()) }) // runs first: ends event streams
	return b
}

func redisOpt(r *localstack.Redis) asynq.RedisClientOpt {
	return asynq.RedisClientOpt{Addr: r.Addr(), Password: r.Password()}
}

func testLogger() *slog.Logger {
	if os.Getenv("PARTFLOW_TEST_LOGS") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// request is an HTTP request to the test monitor.
type request struct {
	method, path string
	body         string
	header       http.Header
	noAuth       bool // send no token
}

// do sends r with the bearer token (unless noAuth) and returns the status and body.
func (b *bundle) do(t *testing.T, r request) (*http.Response, string) {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodGet
	}
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(b.ctx, r.method, b.srv.URL+r.path, body)
	require.NoError(t, err)
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	if r.body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if !r.noAuth && req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+testToken)
	}
	res, err := noRedirect.Do(req)
	require.NoError(t, err, "%s %s", r.method, r.path)
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	require.NoError(t, err)
	return res, string(data)
}

// get is do for a GET with the token, requiring 200.
func (b *bundle) get(t *testing.T, path string) string {
	t.Helper()
	res, body := b.do(t, request{path: path})
	require.Equal(t, http.StatusOK, res.StatusCode, "GET %s: %s", path, body)
	return body
}

var noRedirect = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       30 * time.Second,
}

// newMigration creates a sealed migration of n planned uploads (keys "obj-00000"…) and
// returns its ID and the upload IDs.
func (b *bundle) newMigration(t *testing.T, n int) (string, []state.UploadID) {
	t.Helper()
	mid := state.NewMigrationID()
	_, err := b.store.CreateMigration(b.ctx, state.NewMigration{ID: mid, Bucket: "bkt", Prefix: "in/", Source: "dir/", Queue: "default"})
	require.NoError(t, err)
	ids := make([]state.UploadID, n)
	for i := range ids {
		key := fmt.Sprintf("obj-%05d", i)
		ids[i] = state.DeriveUploadID(mid, "bkt", key)
	}
	// Creating 10,000 records one script at a time takes a while; spread it over a few clients.
	const workers = 8
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := w; i < n; i += workers {
				_, err := b.store.CreateUpload(b.ctx, state.NewUpload{ID: ids[i], Source: fmt.Sprintf("dir/obj-%05d", i),
					Bucket: "bkt", Key: fmt.Sprintf("in/obj-%05d", i)})
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		require.NoError(t, <-errs)
	}
	require.NoError(t, b.store.SealMigration(b.ctx, mid))
	return mid, ids
}

// plan moves a planned upload to uploading with parts parts of 5 MiB.
func (b *bundle) plan(t *testing.T, id state.UploadID, parts int) {
	t.Helper()
	u, err := b.store.GetUpload(b.ctx, id)
	require.NoError(t, err)
	out, err := b.store.StartUploading(b.ctx, id, u.Version, state.UploadPlan{Size: int64(parts) * 5 << 20, Fingerprint: "fp",
		PartSize: 5 << 20, Parts: parts, S3UploadID: "s3-upload"})
	require.NoError(t, err)
	require.Equal(t, state.ResultOK, out.Result)
}

// fence is the part fence of an upload's current plan.
func (b *bundle) fence(t *testing.T, id state.UploadID) state.PartFence {
	t.Helper()
	u, err := b.store.GetUpload(b.ctx, id)
	require.NoError(t, err)
	return u.Fence()
}
