package monitor_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/monitor"
	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/testenv"
	"github.com/partflow/partflow/internal/worker"
	"github.com/partflow/partflow/storage"
	"github.com/partflow/partflow/tasks"
)

// artifactsDir is where the browser test saves its screenshots: $PARTFLOW_ARTIFACTS/monitor,
// or a temporary directory.
func artifactsDir(t *testing.T) string {
	t.Helper()
	root := os.Getenv("PARTFLOW_ARTIFACTS")
	if root == "" {
		return t.TempDir()
	}
	dir := filepath.Join(root, "monitor")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// browser is a headless Chromium tab that sends the monitor token with every request.
type browser struct {
	ctx       context.Context
	base      string
	artifacts string
}

func newBrowser(t *testing.T, base, token string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(testenv.Chromium(t)), chromedp.WindowSize(1280, 900)}
	for _, f := range testenv.ChromiumFlags(t.TempDir()) {
		name, value, ok := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		if ok {
			opts = append(opts, chromedp.Flag(name, value))
		} else {
			opts = append(opts, chromedp.Flag(name, true))
		}
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(ctx), "start chromium") // starts the browser with no deadline
	_, err := chromedp.Call(ctx, network.Enable, network.EnableParams{})
	require.NoError(t, err)
	_, err = chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": "Bearer " + token}})
	require.NoError(t, err)
	b := &browser{ctx: ctx, base: base, artifacts: artifactsDir(t)}
	t.Logf("screenshots go to %s", b.artifacts)
	return b
}

// do runs actions with a deadline.
func (b *browser) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, actions...), what)
}

func (b *browser) open(t *testing.T, path, waitFor string) {
	t.Helper()
	b.do(t, "open "+path, chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS(waitFor)))
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	require.NoError(t, err, "evaluate %s", expr)
	return v
}

// waitJS polls a JavaScript predicate until it holds.
func (b *browser) waitJS(t *testing.T, what, predicate string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](predicate, chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(55*time.Second)))
	require.NoError(t, err, "waiting for %s", what)
}

func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err, "screenshot %s", name)
	path := filepath.Join(b.artifacts, name)
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot: %s", path)
}

// The dashboard in a real browser: it loads with the token, follows a running migration to
// completed through live updates (no reload), shows the upload's parts, and opens asynqmon's
// queue page with partflow's payloads.
func TestBrowserDashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium, Redis and versitygw")
	}
	t.Parallel()
	ctx := context.Background()

	// The stack: redis-server, versitygw behind a proxy that can hold part uploads, a worker.
	r := testenv.Redis(t)
	rdb := testenv.RedisClient(t, r)
	s3 := testenv.S3(t)
	proxy := testenv.NewProxy(t, s3.Endpoint)
	var hold atomic.Bool // parts wait at the proxy while set
	hold.Store(true)
	proxy.SetFault(func(req testenv.Request) testenv.Fault {
		if req.Op != testenv.OpUploadPart {
			return testenv.Fault{}
		}
		for deadline := time.Now().Add(time.Minute); hold.Load() && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		return testenv.Fault{Delay: 700 * time.Millisecond} // slow enough to watch
	})
	st, err := storage.NewMinio(storage.Config{Endpoint: proxy.URL(), AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, MaxRetries: 1})
	require.NoError(t, err)
	t.Cleanup(st.CloseIdleConnections)
	bucket := testenv.Bucket(t, s3)
	dir := t.TempDir()
	for _, name := range []string{"videos/first.bin", "videos/second.bin"} {
		data := make([]byte, 6*storage.MinPartSize)
		_, _ = rand.Read(data)
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "videos"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
	}
	volume, err := source.OpenVolume(dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = volume.Close() })
	w, err := worker.New(worker.Config{Redis: rdb, S3: st, Sources: volume, Logger: testLogger(), Concurrency: 2,
		ShutdownTimeout: 5 * time.Second, Retention: time.Hour, PollInterval: 50 * time.Millisecond,
		RetryDelay: func(int, error, *asynq.Task) time.Duration { return 100 * time.Millisecond }})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	t.Cleanup(w.Shutdown)
	cl, err := client.New(rdb, client.Config{Retention: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cl.Close() })

	mon, err := monitor.New(monitor.Config{Redis: redisOpt(r), Token: testToken, Logger: testLogger()})
	require.NoError(t, err)
	srv := httptest.NewServer(mon)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { _ = mon.Close() })
	t.Cleanup(func() { hold.Store(false) }) // runs first: lets held parts finish

	// An upload of six 5 MiB parts, planned and then held at the proxy.
	first, err := cl.Put(ctx, client.PutRequest{Source: "videos/first.bin", Bucket: bucket, Key: "archive/first.bin",
		PartSize: storage.MinPartSize})
	require.NoError(t, err)
	waitUpload(t, cl, first, "uploading", func(u client.Upload) bool { return u.State == client.StateUploading })

	b := newBrowser(t, srv.URL, testToken)
	mid := first.Migration
	b.open(t, "/", fmt.Sprintf(`tr[data-row=%q]`, mid))
	b.waitJS(t, "the live indicator", `document.getElementById('live').dataset.state === 'live'`)
	b.screenshot(t, "1-migrations.png")

	b.do(t, "open the migration", chromedp.Click(chromedp.CSS(fmt.Sprintf(`a[href="/migrations/%s"]`, mid))),
		chromedp.WaitVisible(chromedp.CSS(`section[data-scope="migration"]`)))
	b.waitJS(t, "the event stream", `document.getElementById('live').dataset.state === 'live'`)
	require.Equal(t, "running", eval[string](t, b, `document.querySelector('[data-scope="migration"] .badge').textContent`))
	require.NoError(t, chromedp.Do(b.ctx, chromedp.Evaluate[chromedp.Void](`window.partflowTestMarker = 1`)))

	// Let the parts go and watch the numbers move on the same page.
	hold.Store(false)
	partsDone := fmt.Sprintf(`Number(document.querySelector('tr[data-upload=%q] span[data-bind="parts_done"]').textContent)`, first.String())
	b.waitJS(t, "some but not all parts done", partsDone+` > 0 && `+partsDone+` < 6`)
	b.screenshot(t, "2-migration-running.png")
	b.waitJS(t, "the migration completed", `document.querySelector('[data-scope="migration"] .badge').textContent === 'completed'`)
	b.waitJS(t, "every part shown as done", partsDone+` === 6`)
	require.Equal(t, 1, eval[int](t, b, `window.partflowTestMarker`), "the page updated live, without a reload")
	require.Equal(t, "100%", eval[string](t, b, `document.querySelector('[data-scope="migration"] [data-fmt="pct"][data-bind="bytes_done"]').textContent`))
	b.screenshot(t, "3-migration-completed.png")

	b.do(t, "open the upload", chromedp.Click(chromedp.CSS(fmt.Sprintf(`a[href="/uploads/%s"]`, first))),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-part="6"]`)))
	require.Equal(t, 6, eval[int](t, b, `document.querySelectorAll('tr[data-part] .state-completed').length`))
	require.Equal(t, "completed", eval[string](t, b, `document.querySelector('[data-scope="upload"] .badge').textContent`))
	b.screenshot(t, "4-upload.png")

	// A second upload held at the proxy fills queue default; asynqmon shows its part tasks.
	hold.Store(true)
	second, err := cl.Put(ctx, client.PutRequest{Source: "videos/second.bin", Bucket: bucket, Key: "archive/second.bin",
		PartSize: storage.MinPartSize})
	require.NoError(t, err)
	waitUpload(t, cl, second, "uploading", func(u client.Upload) bool { return u.State == client.StateUploading })
	b.open(t, "/monitoring/queues/default?status=pending", "#root")
	b.waitJS(t, "asynqmon lists the pending part tasks with readable payloads",
		fmt.Sprintf(`document.body.innerText.includes(' of upload %s')`, second))
	b.screenshot(t, "5-asynqmon-queue-default.png")

	b.open(t, "/uploads/"+second.String(), `tr[data-part="6"]`)
	b.waitJS(t, "the upload page shows the queued part tasks", `document.querySelectorAll('tr[data-part] .state-pending').length >= 1`)
	require.Equal(t, fmt.Sprintf("/monitoring/queues/%s/tasks/%s:part:6", tasks.QueueDefault, second),
		eval[string](t, b, `document.querySelector('tr[data-part="6"] a').getAttribute('href')`))
	b.screenshot(t, "6-upload-queued.png")

	hold.Store(false)
	waitUpload(t, cl, second, "completed", func(u client.Upload) bool { return u.State == client.StateCompleted })
}

// waitUpload polls an upload until ok says it is in the state wanted.
func waitUpload(t *testing.T, cl *client.Client, id client.UploadID, what string, ok func(client.Upload) bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		u, err := cl.Upload(context.Background(), id)
		require.NoError(t, err)
		if ok(u) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("upload %s: not %s within a minute (state %s, %d/%d parts, error %q)", id, what, u.State, u.PartsDone, u.Parts, u.Error)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
