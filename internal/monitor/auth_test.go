package monitor_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/monitor"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/tasks"
)

// protectedPaths are pages and APIs of partflow and asynqmon, all behind the token.
var protectedPaths = []string{
	"/",
	"/?offset=50",
	"/migrations/m1",
	"/uploads/m1.0123456789abcdef",
	"/static/app.css",
	"/static/app.js",
	"/api/migrations",
	"/api/migrations/m1",
	"/api/uploads/m1.0123456789abcdef",
	"/events",
	"/nonexistent",
	"/monitoring",
	"/monitoring/",
	"/monitoring/queues/default",
	"/monitoring/static/js/main.5adda2da.chunk.js",
	"/monitoring/api/queues",
	"/monitoring/api/queues/default",
	"/monitoring/api/queues/default/archived_tasks",
	"/monitoring/api/servers",
	"/monitoring/api/redis_info",
	"/monitoring/api/queue_stats",
}

func TestEveryPathNeedsTheToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	wrong := map[string]string{
		"none":             "",
		"wrong bearer":     "Bearer " + strings.Repeat("x", len(testToken)),
		"prefix of token":  "Bearer " + testToken[:len(testToken)-1],
		"token plus more":  "Bearer " + testToken + "x",
		"basic wrong pass": "Basic " + basic("ops", "nope"),
		"basic token user": "Basic " + basic(testToken, ""),
		"other scheme":     "Token " + testToken,
		"bare token":       testToken,
	}
	for _, path := range protectedPaths {
		for name, auth := range wrong {
			for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
				h := http.Header{}
				if auth != "" {
					h.Set("Authorization", auth)
				}
				res, body := b.do(t, request{method: method, path: path, header: h, noAuth: auth == ""})
				require.Equal(t, http.StatusUnauthorized, res.StatusCode, "%s %s with %s: %s", method, path, name, body)
				challenges := res.Header.Values("WWW-Authenticate")
				require.Len(t, challenges, 2, "%s %s", method, path)
				require.True(t, strings.HasPrefix(challenges[0], `Basic realm="partflow monitor"`), challenges[0])
				require.True(t, strings.HasPrefix(challenges[1], `Bearer realm="partflow monitor"`), challenges[1])
			}
		}
	}
}

func basic(user, pass string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, pass)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

func TestBearerAndBasicAuth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for name, auth := range map[string]string{
		"bearer":              "Bearer " + testToken,
		"bearer lower case":   "bearer " + testToken,
		"basic any user":      "Basic " + basic("ops", testToken),
		"basic empty user":    "Basic " + basic("", testToken),
		"basic another user":  "Basic " + basic("alice", testToken),
		"bearer extra spaces": "Bearer   " + testToken + " ",
	} {
		for _, path := range []string{"/", "/api/migrations", "/monitoring/", "/monitoring/api/queues", "/static/app.js"} {
			res, body := b.do(t, request{path: path, header: http.Header{"Authorization": {auth}}})
			require.Equal(t, http.StatusOK, res.StatusCode, "%s with %s: %s", path, name, body)
		}
	}
}

func TestHealthNeedsNoToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		res, body := b.do(t, request{path: path, noAuth: true})
		require.Equal(t, http.StatusOK, res.StatusCode, "%s: %s", path, body)
		require.Equal(t, "ok\n", body)
	}
	require.NoError(t, b.redis.Stop())
	res, body := b.do(t, request{path: "/readyz", noAuth: true})
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode, body)
	res, _ = b.do(t, request{path: "/healthz", noAuth: true})
	require.Equal(t, http.StatusOK, res.StatusCode, "liveness does not depend on Redis")
}

func TestNoAuthServesWithoutToken(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *monitor.Config) { c.Token, c.NoAuth = "", true })
	for _, path := range []string{"/", "/api/migrations", "/monitoring/api/queues"} {
		res, body := b.do(t, request{path: path, noAuth: true})
		require.Equal(t, http.StatusOK, res.StatusCode, "%s: %s", path, body)
	}
	require.Contains(t, b.get(t, "/"), "no authentication", "the page says that anyone can use it")
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	opt := asynq.RedisClientOpt{Addr: "127.0.0.1:1"}
	for name, tc := range map[string]struct {
		cfg  monitor.Config
		want string
	}{
		"no redis":       {monitor.Config{Token: testToken}, "Config.Redis"},
		"no token":       {monitor.Config{Redis: opt}, "Config.Token is required"},
		"short token":    {monitor.Config{Redis: opt, Token: "short"}, "at least 16"},
		"spaced token":   {monitor.Config{Redis: opt, Token: " " + testToken}, "white space"},
		"token and none": {monitor.Config{Redis: opt, Token: testToken, NoAuth: true}, "exclude"},
		"bad origin":     {monitor.Config{Redis: opt, Token: testToken, TrustedOrigins: []string{"ops.example.com"}}, "TrustedOrigins"},
	} {
		_, err := monitor.New(tc.cfg)
		require.ErrorContains(t, err, tc.want, name)
	}
}

// asynqmon v0.7.2 is built for asynq v0.26's data: its API lists partflow's queues and tasks
// (with the readable payloads) from a real Redis.
func TestAsynqmonServesPartflowQueues(t *testing.T) {
	t.Parallel()
	b := setup(t)
	q := asynq.NewClientFromRedisClient(b.rdb)
	t.Cleanup(func() { _ = q.Close() })
	id := state.UploadID{Migration: "m1", Name: "0123456789abcdef"}
	for _, task := range []*asynq.Task{tasks.NewStartTask(t.Context(), id), tasks.NewPartTask(t.Context(), state.Upload{ID: id, PartSize: 5 << 20}, 3, tasks.QueueLow),
		tasks.NewFinalizeTask(t.Context(), id, 1)} {
		_, err := q.Enqueue(task)
		require.NoError(t, err)
	}

	var queues struct {
		Queues []struct {
			Queue   string `json:"queue"`
			Size    int    `json:"size"`
			Pending int    `json:"pending"`
		} `json:"queues"`
	}
	require.NoError(t, json.Unmarshal([]byte(b.get(t, "/monitoring/api/queues")), &queues))
	sizes := map[string]int{}
	for _, q := range queues.Queues {
		sizes[q.Queue] = q.Pending
	}
	require.Equal(t, map[string]int{"high": 2, "low": 1}, sizes)

	var pending struct {
		Tasks []struct {
			ID      string `json:"id"`
			Type    string `json:"type"`
			Payload string `json:"payload"`
		} `json:"tasks"`
	}
	require.NoError(t, json.Unmarshal([]byte(b.get(t, "/monitoring/api/queues/low/pending_tasks")), &pending))
	require.Len(t, pending.Tasks, 1)
	require.Equal(t, "m1.0123456789abcdef:part:3", pending.Tasks[0].ID)
	require.Equal(t, "part 3 of upload m1.0123456789abcdef", pending.Tasks[0].Payload)

	body := b.get(t, "/monitoring/api/queues/high/tasks/m1.0123456789abcdef:finalize")
	require.Contains(t, body, `"payload":"finalize upload m1.0123456789abcdef"`)

	page := b.get(t, "/monitoring/queues/high")
	require.Contains(t, page, `window.FLAG_ROOT_PATH="\/monitoring"`, "asynqmon's page is rooted at /monitoring")
}

func TestFormatPayload(t *testing.T) {
	t.Parallel()
	require.Equal(t, "part 7 of upload m1.0123456789abcdef",
		monitor.FormatPayload(tasks.TypePart, []byte(`{"upload_id":"m1.0123456789abcdef","part":7}`)))
	require.Equal(t, "start upload m1.0123456789abcdef",
		monitor.FormatPayload(tasks.TypeStart, []byte(`{"upload_id":"m1.0123456789abcdef"}`)))
	require.Equal(t, "finalize upload m1.0123456789abcdef",
		monitor.FormatPayload(tasks.TypeFinalize, []byte(`{"upload_id":"m1.0123456789abcdef"}`)))
	require.Equal(t, `{"x":1}`, monitor.FormatPayload("other:task", []byte(`{"x":1}`)))
	require.Equal(t, "not json", monitor.FormatPayload(tasks.TypePart, []byte("not json")))
	require.Equal(t, "non-printable bytes", monitor.FormatPayload(tasks.TypePart, []byte{0xff, 0x00}))
}
