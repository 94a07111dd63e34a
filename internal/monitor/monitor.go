package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"

	"github.com/partflow/partflow/internal/state"
)

// AsynqmonPath is where the asynqmon dashboard is served.
const AsynqmonPath = "/monitoring"

// Monitor is the monitor's http.Handler. Close it to release its Redis connections.
type Monitor struct {
	cfg       Config
	log       *slog.Logger
	rdb       redis.UniversalClient
	store     *state.Store
	inspector *asynq.Inspector
	asynqmon  *asynqmon.HTTPHandler
	hub       *hub
	pages     *pages
	handler   http.Handler // everything behind authentication

	// stop is closed by StopStreams (on shutdown) so open event streams end.
	stop     chan struct{}
	stopOnce sync.Once
}

// New returns a Monitor for cfg. It does not reach Redis until the first request.
func New(cfg Config) (*Monitor, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	rdb, ok := cfg.Redis.MakeRedisClient().(redis.UniversalClient)
	if !ok || rdb == nil {
		return nil, fmt.Errorf("monitor: Config.Redis made a %T, want a go-redis v9 client", cfg.Redis.MakeRedisClient())
	}
	store, err := state.New(rdb, state.Config{})
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	pg, err := newPages()
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	m := &Monitor{
		cfg:       cfg,
		log:       cfg.Logger,
		rdb:       rdb,
		store:     store,
		inspector: asynq.NewInspectorFromRedisClient(rdb),
		asynqmon: asynqmon.New(asynqmon.Options{
			RootPath:          AsynqmonPath,
			RedisConnOpt:      cfg.Redis,
			PayloadFormatter:  asynqmon.PayloadFormatterFunc(FormatPayload),
			ReadOnly:          cfg.ReadOnly,
			PrometheusAddress: cfg.PrometheusURL,
		}),
		hub:   newHub(rdb, cfg.Logger),
		pages: pg,
		stop:  make(chan struct{}),
	}
	csrf := http.NewCrossOriginProtection()
	for _, o := range cfg.TrustedOrigins {
		if err := csrf.AddTrustedOrigin(o); err != nil {
			_ = m.Close()
			return nil, fmt.Errorf("monitor: Config.TrustedOrigins: %w", err)
		}
	}
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "monitor: cross-origin request refused", http.StatusForbidden)
	}))
	m.handler = m.authenticate(m.readOnly(csrf.Handler(m.routes())))
	return m, nil
}

func (m *Monitor) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(AsynqmonPath+"/", m.asynqmon)
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler()))

	mux.HandleFunc("GET /{$}", m.pageMigrations)
	mux.HandleFunc("GET /migrations/{id}", m.pageMigration)
	mux.HandleFunc("GET /uploads/{id}", m.pageUpload)

	mux.HandleFunc("GET /api/migrations", m.apiMigrations)
	mux.HandleFunc("GET /api/migrations/{id}", m.apiMigration)
	mux.HandleFunc("GET /api/uploads/{id}", m.apiUpload)
	mux.HandleFunc("GET /events", m.events)

	mux.HandleFunc("POST /actions/resume", m.actionResume)
	mux.HandleFunc("POST /actions/cancel", m.actionCancel)
	mux.HandleFunc("POST /actions/run-task", m.actionRunTask)
	return mux
}

// ServeHTTP serves /healthz and /readyz to anyone and everything else behind authentication,
// logging each request (see accessLog).
func (m *Monitor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.accessLog(w, r, m.serve)
}

func (m *Monitor) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	switch r.URL.Path {
	case "/healthz":
		writeText(w, http.StatusOK, "ok")
		return
	case "/readyz":
		m.readyz(w, r)
		return
	}
	m.handler.ServeHTTP(w, r)
}

// readyz answers 200 when Redis answers a PING.
func (m *Monitor) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := m.rdb.Ping(ctx).Err(); err != nil {
		// Anyone may ask: the details (addresses) go to the log only.
		m.log.Warn("RedisUnreachable", "error", err)
		writeText(w, http.StatusServiceUnavailable, "redis unreachable")
		return
	}
	writeText(w, http.StatusOK, "ok")
}

// StopStreams ends every open event stream and refuses new ones; call it when the server
// shuts down (http.Server.RegisterOnShutdown), since Shutdown waits for running requests.
func (m *Monitor) StopStreams() {
	m.stopOnce.Do(func() { close(m.stop) })
}

// Close ends the event streams and closes the monitor's Redis connections (asynqmon's too).
func (m *Monitor) Close() error {
	m.StopStreams()
	m.hub.close()
	return errors.Join(m.asynqmon.Close(), m.rdb.Close())
}

func writeText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = fmt.Fprintln(w, msg)
}
