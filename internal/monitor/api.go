package monitor

import (
	"encoding/json"
	"errors"
	"net/http"
)

// GET /api/migrations?offset=&limit=
func (m *Monitor) apiMigrations(w http.ResponseWriter, r *http.Request) {
	v, err := m.listMigrations(r.Context(), r.URL.Query())
	m.writeJSON(w, r, v, err)
}

// GET /api/migrations/{id}?offset=&limit=&state=all|failed
func (m *Monitor) apiMigration(w http.ResponseWriter, r *http.Request) {
	v, err := m.migrationDetail(r.Context(), r.PathValue("id"), r.URL.Query())
	m.writeJSON(w, r, v, err)
}

// GET /api/uploads/{id}?offset=&limit= (a page of parts)
func (m *Monitor) apiUpload(w http.ResponseWriter, r *http.Request) {
	v, err := m.uploadDetail(r.Context(), r.PathValue("id"), r.URL.Query())
	m.writeJSON(w, r, v, err)
}

// writeJSON answers v, or err as {"error": "..."} with its status.
func (m *Monitor) writeJSON(w http.ResponseWriter, r *http.Request, v any, err error) {
	status := http.StatusOK
	if err != nil {
		status, v = m.errorStatus(r, err), map[string]string{"error": m.errorMessage(err)}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// errorStatus returns the status an error is answered with, logging unexpected ones.
func (m *Monitor) errorStatus(r *http.Request, err error) int {
	var he *httpError
	if errors.As(err, &he) {
		return he.status
	}
	m.log.Error("RequestFailed", "method", r.Method, "path", r.URL.Path, "error", err)
	return http.StatusInternalServerError
}

// errorMessage returns what a user is told about err: the message of an httpError, a generic
// text for internal errors (their details are logged).
func (m *Monitor) errorMessage(err error) string {
	var he *httpError
	if errors.As(err, &he) {
		return he.msg
	}
	return "internal error; see the monitor's log"
}
