package monitor_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/monitor"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/tasks"
)

// fakeActions records the calls of the action handlers.
type fakeActions struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (f *fakeActions) Resume(_ context.Context, id string) error { return f.record("resume " + id) }
func (f *fakeActions) Cancel(_ context.Context, id string) error { return f.record("cancel " + id) }

func (f *fakeActions) record(call string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	return f.err
}

func (f *fakeActions) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

var _ monitor.Actions = (*fakeActions)(nil)

// mutating are requests that change something, in partflow's view and in asynqmon.
var mutating = []request{
	{method: http.MethodPost, path: "/actions/resume", body: "id=m1"},
	{method: http.MethodPost, path: "/actions/cancel", body: "id=m1.0123456789abcdef"},
	{method: http.MethodPost, path: "/actions/run-task", body: "queue=high&task=m1.0123456789abcdef:start"},
	{method: http.MethodPost, path: "/monitoring/api/queues/high:pause"},
	{method: http.MethodPost, path: "/monitoring/api/queues/high:resume"},
	{method: http.MethodDelete, path: "/monitoring/api/queues/high"},
	{method: http.MethodDelete, path: "/monitoring/api/queues/high/pending_tasks/m1.0123456789abcdef:start"},
	{method: http.MethodDelete, path: "/monitoring/api/queues/high/pending_tasks:delete_all"},
	{method: http.MethodPost, path: "/monitoring/api/queues/high/pending_tasks/m1.0123456789abcdef:start:archive"},
	{method: http.MethodPost, path: "/monitoring/api/queues/high/archived_tasks:run_all"},
	{method: http.MethodPost, path: "/monitoring/api/queues/high/pending_tasks:batch_delete", body: `{"task_ids":["m1.0123456789abcdef:start"]}`},
	{method: http.MethodPut, path: "/monitoring/api/queues/high"},
	{method: http.MethodPatch, path: "/api/migrations/m1"},
	{method: http.MethodPost, path: "/"},
	{method: http.MethodPost, path: "/monitoring/"},
}

// enqueueStart puts the start task of an upload in queue high.
func (b *bundle) enqueueStart(t *testing.T, id state.UploadID) {
	t.Helper()
	q := asynq.NewClientFromRedisClient(b.rdb)
	defer q.Close()
	_, err := q.Enqueue(tasks.NewStartTask(t.Context(), id))
	require.NoError(t, err)
}

func TestReadOnlyRefusesEveryChange(t *testing.T) {
	t.Parallel()
	actions := &fakeActions{}
	b := setup(t, func(c *monitor.Config) { c.ReadOnly, c.Actions = true, actions })
	id := state.UploadID{Migration: "m1", Name: "0123456789abcdef"}
	b.enqueueStart(t, id)

	for _, r := range append(mutating, request{method: http.MethodOptions, path: "/monitoring/api/queues"}) {
		r.header = http.Header{"Sec-Fetch-Site": {"same-origin"}, "Content-Type": {"application/json"}}
		if strings.HasPrefix(r.path, "/actions/") {
			r.header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		res, body := b.do(t, r)
		require.Equal(t, http.StatusMethodNotAllowed, res.StatusCode, "%s %s: %s", r.method, r.path, body)
		require.Equal(t, "GET, HEAD", res.Header.Get("Allow"))
	}
	require.Empty(t, actions.Calls(), "no action may run in read-only mode")

	// Nothing changed in asynq: the queue is not paused and the task is still pending.
	insp := asynq.NewInspectorFromRedisClient(b.rdb)
	info, err := insp.GetQueueInfo(tasks.QueueHigh)
	require.NoError(t, err)
	require.False(t, info.Paused)
	require.Equal(t, 1, info.Pending)

	// Reading still works, and the pages and asynqmon know they are read-only.
	require.Contains(t, b.get(t, "/monitoring/queues/high"), `window.FLAG_READ_ONLY="true"`)
	require.Contains(t, b.get(t, "/"), "read-only")
	res, _ := b.do(t, request{method: http.MethodHead, path: "/api/migrations"})
	require.Equal(t, http.StatusOK, res.StatusCode)
}

func TestCrossOriginRequestsAreRefused(t *testing.T) {
	t.Parallel()
	actions := &fakeActions{}
	b := setup(t, func(c *monitor.Config) {
		c.Actions = actions
		c.TrustedOrigins = []string{"https://ops.example.com"}
	})
	id := state.UploadID{Migration: "m1", Name: "0123456789abcdef"}
	b.enqueueStart(t, id)

	crossSite := []http.Header{
		{"Sec-Fetch-Site": {"cross-site"}},
		{"Sec-Fetch-Site": {"same-site"}},
		{"Origin": {"http://evil.example"}},
		{"Origin": {"null"}},
	}
	for _, r := range mutating {
		for _, h := range crossSite {
			r.header = h.Clone()
			res, body := b.do(t, r)
			require.Equal(t, http.StatusForbidden, res.StatusCode, "%s %s with %v: %s", r.method, r.path, h, body)
		}
	}
	require.Empty(t, actions.Calls(), "no cross-origin action may run")
	info, err := asynq.NewInspectorFromRedisClient(b.rdb).GetQueueInfo(tasks.QueueHigh)
	require.NoError(t, err)
	require.False(t, info.Paused, "a cross-site POST must not pause a queue through asynqmon")

	// The same requests from the monitor's own pages (or a trusted origin, or a client that is
	// not a browser) go through.
	for _, h := range []http.Header{
		{"Sec-Fetch-Site": {"same-origin"}},
		{"Origin": {b.srv.URL}},
		{"Origin": {"https://ops.example.com"}},
		{},
	} {
		r := request{method: http.MethodPost, path: "/actions/resume", body: "id=m1", header: h.Clone()}
		res, body := b.do(t, r)
		require.Equal(t, http.StatusSeeOther, res.StatusCode, "resume with %v: %s", h, body)
	}
	require.Equal(t, []string{"resume m1", "resume m1", "resume m1", "resume m1"}, actions.Calls())

	res, body := b.do(t, request{method: http.MethodPost, path: "/monitoring/api/queues/high:pause",
		header: http.Header{"Sec-Fetch-Site": {"same-origin"}}})
	require.Equal(t, http.StatusNoContent, res.StatusCode, body)
	info, err = asynq.NewInspectorFromRedisClient(b.rdb).GetQueueInfo(tasks.QueueHigh)
	require.NoError(t, err)
	require.True(t, info.Paused, "asynqmon's own actions work from its page")
}

func TestActions(t *testing.T) {
	t.Parallel()
	actions := &fakeActions{}
	b := setup(t, func(c *monitor.Config) { c.Actions = actions })
	mid, ids := b.newMigration(t, 2)
	same := http.Header{"Sec-Fetch-Site": {"same-origin"}}

	res, body := b.do(t, request{method: http.MethodPost, path: "/actions/cancel", header: same,
		body: url.Values{"id": {ids[0].String()}, "back": {"/migrations/" + mid + "?offset=50&done=resumed"}}.Encode()})
	require.Equal(t, http.StatusSeeOther, res.StatusCode, body)
	require.Equal(t, "/migrations/"+mid+"?offset=50&done=cancelled", res.Header.Get("Location"))

	for _, back := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", ""} {
		res, _ = b.do(t, request{method: http.MethodPost, path: "/actions/resume", header: same,
			body: url.Values{"id": {mid}, "back": {back}}.Encode()})
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		require.Equal(t, "/migrations/"+mid+"?done=resumed", res.Header.Get("Location"), "back=%q must not leave the monitor", back)
	}

	res, body = b.do(t, request{method: http.MethodPost, path: "/actions/resume",
		header: http.Header{"Accept": {"application/json"}}, body: "id=" + ids[1].String()})
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.JSONEq(t, `{"ok":true,"done":"resumed"}`, body)

	res, body = b.do(t, request{method: http.MethodPost, path: "/actions/resume", body: "id=not%20an%20id"})
	require.Equal(t, http.StatusBadRequest, res.StatusCode, body)

	actions.err = state.ErrNotFound
	res, body = b.do(t, request{method: http.MethodPost, path: "/actions/cancel", body: "id=gone"})
	require.Equal(t, http.StatusNotFound, res.StatusCode, body)
	require.Contains(t, body, "gone not found")

	require.Equal(t, []string{"cancel " + ids[0].String(), "resume " + mid, "resume " + mid, "resume " + mid, "resume " + mid,
		"resume " + mid, "resume " + ids[1].String(), "cancel gone"}, actions.Calls())

	// The buttons are on the pages.
	require.Contains(t, b.get(t, "/migrations/"+mid), `action="/actions/cancel"`)
	require.Contains(t, b.get(t, "/uploads/"+ids[0].String()), `action="/actions/cancel"`)
}

func TestActionsHiddenWithoutImplementation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mid, ids := b.newMigration(t, 1)
	require.NotContains(t, b.get(t, "/migrations/"+mid), "/actions/cancel")
	require.NotContains(t, b.get(t, "/uploads/"+ids[0].String()), "/actions/cancel")
	res, body := b.do(t, request{method: http.MethodPost, path: "/actions/cancel", body: "id=" + mid})
	require.Equal(t, http.StatusNotImplemented, res.StatusCode, body)
}

func TestRunArchivedTask(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mid, ids := b.newMigration(t, 1)
	b.plan(t, ids[0], 3)
	q := asynq.NewClientFromRedisClient(b.rdb)
	t.Cleanup(func() { _ = q.Close() })
	_, err := q.Enqueue(tasks.NewPartTask(t.Context(), state.Upload{ID: ids[0], PartSize: 5 << 20}, 2, tasks.QueueDefault))
	require.NoError(t, err)
	insp := asynq.NewInspectorFromRedisClient(b.rdb)
	taskID := ids[0].String() + ":part:2"
	require.NoError(t, insp.ArchiveTask(tasks.QueueDefault, taskID))

	page := b.get(t, "/uploads/"+ids[0].String())
	require.Contains(t, page, "archived")
	require.Contains(t, page, `action="/actions/run-task"`)
	require.Contains(t, page, `href="/monitoring/queues/default/tasks/`+taskID+`"`)

	var d monitor.UploadDetail
	decode(t, b.get(t, "/api/uploads/"+ids[0].String()), &d)
	require.Len(t, d.Tasks, 1)
	require.Equal(t, monitor.TaskView{ID: taskID, Type: tasks.TypePart, Part: 2, Queue: "default", State: "archived",
		MaxRetry: tasks.PartRetries, URL: "/monitoring/queues/default/tasks/" + taskID, Runnable: true,
		NextProcessAt: d.Tasks[0].NextProcessAt}, d.Tasks[0])

	res, body := b.do(t, request{method: http.MethodPost, path: "/actions/run-task",
		body: url.Values{"queue": {"default"}, "task": {taskID}, "back": {"/uploads/" + ids[0].String()}}.Encode()})
	require.Equal(t, http.StatusSeeOther, res.StatusCode, body)
	info, err := insp.GetTaskInfo(tasks.QueueDefault, taskID)
	require.NoError(t, err)
	require.Equal(t, asynq.TaskStatePending, info.State)

	// A pending task cannot be run again; tasks of other programs are not touched.
	res, body = b.do(t, request{method: http.MethodPost, path: "/actions/run-task", body: "queue=default&task=" + taskID})
	require.Equal(t, http.StatusConflict, res.StatusCode, body)
	res, body = b.do(t, request{method: http.MethodPost, path: "/actions/run-task", body: "queue=default&task=someone-elses-task"})
	require.Equal(t, http.StatusBadRequest, res.StatusCode, body)
	res, body = b.do(t, request{method: http.MethodPost, path: "/actions/run-task", body: "queue=critical&task=" + taskID})
	require.Equal(t, http.StatusBadRequest, res.StatusCode, body)
	_ = mid
}

// TestUploadPageShowsTheCurrentPlansPartTasks: after an upload was reset and planned again,
// its part tasks carry the plan's generation; the upload page finds those, not the old plan's.
func TestUploadPageShowsTheCurrentPlansPartTasks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, ids := b.newMigration(t, 1)
	b.plan(t, ids[0], 3)
	u, err := b.store.GetUpload(b.ctx, ids[0])
	require.NoError(t, err)
	out, err := b.store.ResetUpload(b.ctx, ids[0], u.Version, state.Uploading)
	require.NoError(t, err)
	require.Equal(t, state.ResultOK, out.Result)
	b.plan(t, ids[0], 3)
	u, err = b.store.GetUpload(b.ctx, ids[0])
	require.NoError(t, err)
	require.Positive(t, u.Generation)

	q := asynq.NewClientFromRedisClient(b.rdb)
	t.Cleanup(func() { _ = q.Close() })
	_, err = q.Enqueue(tasks.NewPartTask(t.Context(), u, 2, tasks.QueueDefault))
	require.NoError(t, err)
	var d monitor.UploadDetail
	decode(t, b.get(t, "/api/uploads/"+ids[0].String()), &d)
	require.Len(t, d.Tasks, 1)
	require.Equal(t, tasks.PartTaskID(u, 2), d.Tasks[0].ID)
	require.Equal(t, 2, d.Tasks[0].Part)
}
