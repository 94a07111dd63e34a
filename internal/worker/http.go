package worker

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/partflow/partflow/storage"
)

// Probes are what the worker's HTTP endpoints check and expose.
type Probes struct {
	Redis    redis.UniversalClient
	S3       storage.Multipart
	Gatherer prometheus.Gatherer // for /metrics; nil leaves /metrics out
}

// NewHTTPHandler serves /healthz (the process is alive), /readyz (Redis answers PING and the
// S3 endpoint answers a request) and /metrics (Prometheus).
func NewHTTPHandler(p Probes) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := p.Redis.Ping(ctx).Err(); err != nil {
			http.Error(w, "redis: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		// Any answer from S3, even "no such bucket", shows the endpoint and network work.
		if _, err := p.S3.BucketExists(ctx, "partflow-readyz-probe"); err != nil {
			http.Error(w, "s3: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if p.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(p.Gatherer, promhttp.HandlerOpts{}))
	}
	return mux
}
