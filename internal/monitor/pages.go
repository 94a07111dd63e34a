package monitor

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/tasks"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// contentSecurityPolicy of partflow's own pages (asynqmon needs inline scripts and sets none).
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// pages holds the parsed page templates, each with the layout.
type pages struct {
	byName map[string]*template.Template
}

func newPages() (*pages, error) {
	p := &pages{byName: map[string]*template.Template{}}
	for _, name := range []string{"migrations.html", "migration.html", "upload.html", "error.html"} {
		t, err := template.New(name).Funcs(templateFuncs()).ParseFS(templateFiles, "templates/layout.html", "templates/"+name)
		if err != nil {
			return nil, fmt.Errorf("monitor: parse template %s: %w", name, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

func staticHandler() http.Handler {
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		panic(err) // the embedded tree always has it
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

// layout is what every page's layout needs.
type layout struct {
	Title   string
	Nav     string // "migrations", or "" for none
	Notice  string // after an action
	API     string // the JSON the page's numbers are refreshed from
	Events  string // the event stream that says when to refresh
	Mode    mode
	Queues  []string
	Content any
}

// mode tells the templates what the monitor lets users do.
type mode struct {
	ReadOnly bool
	NoAuth   bool
	Actions  bool // resume and cancel
	RunTasks bool
}

func (m *Monitor) mode() mode {
	return mode{ReadOnly: m.cfg.ReadOnly, NoAuth: m.cfg.NoAuth, Actions: m.cfg.Actions != nil && !m.cfg.ReadOnly,
		RunTasks: !m.cfg.ReadOnly}
}

var notices = map[string]string{
	"resumed":   "Resume requested: missing work is being enqueued again.",
	"cancelled": "Cancel requested: pending work is being dropped.",
	"task-run":  "The task was moved to the pending queue and will run shortly.",
}

func (m *Monitor) render(w http.ResponseWriter, r *http.Request, status int, name string, l layout) {
	l.Mode = m.mode()
	l.Notice = notices[r.URL.Query().Get("done")]
	l.Queues = []string{tasks.QueueHigh, tasks.QueueDefault, tasks.QueueLow}
	var buf bytes.Buffer
	if err := m.pages.byName[name].ExecuteTemplate(&buf, "layout", l); err != nil {
		m.log.Error("RenderFailed", "template", name, "error", err)
		writeText(w, http.StatusInternalServerError, "internal error; see the monitor's log")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

func (m *Monitor) renderError(w http.ResponseWriter, r *http.Request, err error) {
	status := m.errorStatus(r, err)
	m.render(w, r, status, "error.html", layout{Title: http.StatusText(status),
		Content: struct {
			Status  int
			Message string
		}{status, m.errorMessage(err)}})
}

// pager renders the links of one page of a list.
type pager struct {
	Page
	base  string // path of the list
	query url.Values
}

func newPager(p Page, path string, q url.Values) pager {
	keep := url.Values{}
	for k, v := range q {
		if k != "offset" && k != "done" {
			keep[k] = v
		}
	}
	return pager{Page: p, base: path, query: keep}
}

func (p pager) url(offset int64) string { return p.base + query(p.query, offset) }

func (p pager) From() int64     { return min(p.Offset+1, p.Total) }
func (p pager) To() int64       { return min(p.Offset+p.Limit, p.Total) }
func (p pager) HasPrev() bool   { return p.Offset > 0 }
func (p pager) HasNext() bool   { return p.Offset+p.Limit < p.Total }
func (p pager) Prev() string    { return p.url(max(p.Offset-p.Limit, 0)) }
func (p pager) Next() string    { return p.url(p.Offset + p.Limit) }
func (p pager) First() string   { return p.url(0) }
func (p pager) Last() string    { return p.url(max((p.Total-1)/p.Limit*p.Limit, 0)) }
func (p pager) Number() int64   { return p.Offset/p.Limit + 1 }
func (p pager) Count() int64    { return max((p.Total+p.Limit-1)/p.Limit, 1) }
func (p pager) Needed() bool    { return p.Total > p.Limit || p.Offset > 0 }
func (p pager) Current() string { return p.url(p.Offset) }

// GET /
func (m *Monitor) pageMigrations(w http.ResponseWriter, r *http.Request) {
	list, err := m.listMigrations(r.Context(), r.URL.Query())
	if err != nil {
		m.renderError(w, r, err)
		return
	}
	pg := newPager(list.Page, "/", r.URL.Query())
	m.render(w, r, http.StatusOK, "migrations.html", layout{
		Title: "Migrations", Nav: "migrations",
		API: "/api/migrations" + query(pg.query, list.Offset), Events: "/events",
		Content: struct {
			MigrationList
			Pager pager
		}{list, pg},
	})
}

// GET /migrations/{id}
func (m *Monitor) pageMigration(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, err := m.migrationDetail(r.Context(), id, r.URL.Query())
	if err != nil {
		m.renderError(w, r, err)
		return
	}
	path := "/migrations/" + url.PathEscape(id)
	pg := newPager(d.Page, path, r.URL.Query())
	m.render(w, r, http.StatusOK, "migration.html", layout{
		Title: "Migration " + id, Nav: "migrations",
		API: "/api/migrations/" + url.PathEscape(id) + query(pg.query, d.Offset), Events: "/events?migration=" + url.QueryEscape(id),
		Content: struct {
			MigrationDetail
			Pager pager
			Back  string
		}{d, pg, pg.Current()},
	})
}

// GET /uploads/{id}
func (m *Monitor) pageUpload(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, err := m.uploadDetail(r.Context(), id, r.URL.Query())
	if err != nil {
		m.renderError(w, r, err)
		return
	}
	uid, _ := state.ParseUploadID(id) // uploadDetail parsed it
	path := "/uploads/" + url.PathEscape(id)
	pg := newPager(d.Page, path, r.URL.Query())
	partTasks := map[int]TaskView{}
	var other []TaskView
	for _, t := range d.Tasks {
		if t.Part > 0 {
			partTasks[t.Part] = t
		} else {
			other = append(other, t)
		}
	}
	m.render(w, r, http.StatusOK, "upload.html", layout{
		Title: "Upload " + id, Nav: "migrations",
		API: "/api/uploads/" + url.PathEscape(id) + query(pg.query, d.Offset), Events: "/events?upload=" + url.QueryEscape(id),
		Content: struct {
			UploadDetail
			Pager      pager
			Back       string
			PartTasks  map[int]TaskView
			OtherTasks []TaskView
			StartID    string
			FinalizeID string
		}{d, pg, pg.Current(), partTasks, other, tasks.StartTaskID(uid), tasks.FinalizeTaskID(uid)},
	})
}

// query returns "?…" with q and offset, or "".
func query(q url.Values, offset int64) string {
	v := url.Values{}
	for k, vs := range q {
		v[k] = vs
	}
	if offset > 0 {
		v.Set("offset", strconv.FormatInt(offset, 10))
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

// taskRow is what the "taskrow" template shows.
type taskRow struct {
	T    TaskView
	Mode mode
	Back string
}

// templateFuncs are the helpers the page templates use.
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"bytes": func(n int64) string { return humanize.IBytes(uint64(max(n, 0))) },
		"rate": func(r float64) string {
			if r <= 0 {
				return "—"
			}
			return humanize.IBytes(uint64(r)) + "/s"
		},
		"pct": func(done, total int64) string {
			if total <= 0 {
				return "0%"
			}
			return strconv.FormatFloat(float64(done)*100/float64(total), 'f', 0, 64) + "%"
		},
		"i64": func(n int) int64 { return int64(n) },
		"ago": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return humanize.Time(t)
		},
		"stamp": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format(time.RFC3339)
		},
		"queueURL":   asynqmonQueueURL,
		"taskURL":    asynqmonTaskURL,
		"terminal":   func(s string) bool { return s == "completed" || s == "failed" || s == "cancelled" },
		"statusText": http.StatusText,
		"taskrow":    func(t TaskView, m mode, back string) taskRow { return taskRow{T: t, Mode: m, Back: back} },
	}
}
