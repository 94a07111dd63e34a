package monitor

import (
	"log/slog"
	"net/http"
	"time"
)

// accessLog logs one line per request once it has been answered: event "Request" with
// method, path (never the query string, which may hold anything), status, duration and
// response bytes. It logs no header, so no token or Authorization value. The health checks
// are logged at debug level, every other request at info.
func (m *Monitor) accessLog(w http.ResponseWriter, r *http.Request, next func(http.ResponseWriter, *http.Request)) {
	start := time.Now()
	rec := &accessRecorder{ResponseWriter: w}
	defer func() {
		level := slog.LevelInfo
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			level = slog.LevelDebug
		}
		status := rec.status
		if status == 0 {
			status = http.StatusOK // nothing written: net/http answers 200
		}
		m.log.LogAttrs(r.Context(), level, "Request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", status), slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.Int64("bytes", rec.bytes), slog.String("remote", r.RemoteAddr))
	}()
	next(rec, r)
}

// accessRecorder notes the status and the body bytes of a response. Unwrap lets
// http.ResponseController reach the connection's Flush (the event stream needs it).
type accessRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (a *accessRecorder) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *accessRecorder) Write(b []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	n, err := a.ResponseWriter.Write(b)
	a.bytes += int64(n)
	return n, err
}

func (a *accessRecorder) Unwrap() http.ResponseWriter { return a.ResponseWriter }
