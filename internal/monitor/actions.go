package monitor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/tasks"
)

// Actions are HTML form POSTs (or API calls with "Accept: application/json"): they answer a
// browser with 303 See Other back to the page it came from (form field "back"), and an API
// client with {"ok": true}. Cross-origin protection (see the package doc) guards them.

const actionTimeout = 30 * time.Second

// POST /actions/resume  id=<upload or migration ID>
func (m *Monitor) actionResume(w http.ResponseWriter, r *http.Request) {
	m.idAction(w, r, "resumed", func(a Actions) func(context.Context, string) error { return a.Resume })
}

// POST /actions/cancel  id=<upload or migration ID>
func (m *Monitor) actionCancel(w http.ResponseWriter, r *http.Request) {
	m.idAction(w, r, "cancelled", func(a Actions) func(context.Context, string) error { return a.Cancel })
}

func (m *Monitor) idAction(w http.ResponseWriter, r *http.Request, done string, pick func(Actions) func(context.Context, string) error) {
	if m.cfg.Actions == nil {
		m.actionError(w, r, &httpError{status: http.StatusNotImplemented, msg: "resume and cancel are not available in this monitor"})
		return
	}
	if err := parseForm(w, r); err != nil {
		m.actionError(w, r, err)
		return
	}
	id := r.PostForm.Get("id")
	page, err := pageOf(id)
	if err != nil {
		m.actionError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	if err := pick(m.cfg.Actions)(ctx, id); err != nil {
		if errors.Is(err, state.ErrNotFound) {
			err = notFound("%s not found (or expired)", id)
		} else {
			m.log.Error("ActionFailed", "action", done, "id", id, "error", err)
			err = &httpError{status: http.StatusBadGateway, msg: fmt.Sprintf("%s: %v", id, err)}
		}
		m.actionError(w, r, err)
		return
	}
	m.log.Info("ActionDone", "action", done, "id", id)
	m.actionDone(w, r, page, done)
}

// POST /actions/run-task  queue=<queue> task=<task ID>: runs an archived, retrying or
// scheduled task of partflow now.
func (m *Monitor) actionRunTask(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		m.actionError(w, r, err)
		return
	}
	queue, taskID := r.PostForm.Get("queue"), r.PostForm.Get("task")
	if _, ok := tasks.Queues()[queue]; !ok {
		m.actionError(w, r, badRequest("unknown queue %q", queue))
		return
	}
	if !isPartflowTask(taskID) {
		m.actionError(w, r, badRequest("%q is not a partflow task ID", taskID))
		return
	}
	uploadID, _, _ := strings.Cut(taskID, ":")
	if err := m.inspector.RunTask(queue, taskID); err != nil {
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
			err = notFound("task %s is not in queue %s", taskID, queue)
		default:
			// RunTask refuses pending and active tasks: nothing to run.
			err = &httpError{status: http.StatusConflict, msg: fmt.Sprintf("task %s: %v", taskID, err)}
		}
		m.actionError(w, r, err)
		return
	}
	m.log.Info("ActionDone", "action", "run-task", "queue", queue, "task_id", taskID)
	m.actionDone(w, r, "/uploads/"+url.PathEscape(uploadID), "task-run")
}

func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return badRequest("bad form: %v", err)
	}
	return nil
}

// pageOf returns the page of an upload or migration ID, checking the ID.
func pageOf(id string) (string, error) {
	if state.IsUploadID(id) {
		if _, err := state.ParseUploadID(id); err != nil {
			return "", badRequest("%v", err)
		}
		return "/uploads/" + url.PathEscape(id), nil
	}
	if err := state.ValidateMigrationID(id); err != nil {
		return "", badRequest("%v", err)
	}
	return "/migrations/" + url.PathEscape(id), nil
}

// wantsJSON reports whether the client asked for a JSON answer rather than a redirect.
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

func (m *Monitor) actionDone(w http.ResponseWriter, r *http.Request, fallback, done string) {
	if wantsJSON(r) {
		m.writeJSON(w, r, map[string]any{"ok": true, "done": done}, nil)
		return
	}
	back := localPath(r.PostForm.Get("back"), fallback)
	sep := "?"
	if strings.Contains(back, "?") {
		sep = "&"
	}
	http.Redirect(w, r, back+sep+"done="+url.QueryEscape(done), http.StatusSeeOther)
}

func (m *Monitor) actionError(w http.ResponseWriter, r *http.Request, err error) {
	if wantsJSON(r) {
		m.writeJSON(w, r, nil, err)
		return
	}
	m.renderError(w, r, err)
}

// localPath returns p when it is a path on this server (not another host), else fallback;
// a "done" parameter left from an earlier action is dropped.
func localPath(p, fallback string) string {
	u, err := url.Parse(p)
	if err != nil || p == "" || u.Scheme != "" || u.Host != "" || u.User != nil ||
		!strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsRune(p, '\\') {
		return fallback
	}
	q := u.Query()
	q.Del("done")
	out := (&url.URL{Path: u.Path, RawQuery: q.Encode()}).String()
	if !strings.HasPrefix(out, "/") || strings.HasPrefix(out, "//") {
		return fallback
	}
	return out
}
