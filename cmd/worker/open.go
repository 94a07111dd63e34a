package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/partflow/partflow/internal/feed"
	"github.com/partflow/partflow/internal/s3source"
	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/tracing"
	"github.com/partflow/partflow/internal/worker"
	"github.com/partflow/partflow/storage"
)

// resources are what the worker opens before it connects to Redis: each failure is a
// configuration error (exit 2) naming its flag or variable.
type resources struct {
	metricsLn      net.Listener
	sources        source.Mux
	listings       feed.Mux // the feeds this worker can read: files on the volume, S3 prefixes
	s3             *storage.Minio
	copier         storage.Copier // nil: s3:// sources are read, not copied server-side
	urlHeaderHosts []string       // names only: the values are secrets
	closers        []func()
}

// open opens the metrics listener, the sources and the S3 clients of cfg. Close the result
// even when it fails.
func open(cfg config, tp *tracing.Provider) (*resources, error) {
	r := &resources{listings: feed.Mux{}}
	if cfg.metricsAddr != "" {
		// Listen first, so that a bad address is an error at once, not a log line later.
		ln, err := net.Listen("tcp", cfg.metricsAddr)
		if err != nil {
			return r, fmt.Errorf("--metrics-addr (PARTFLOW_METRICS_ADDR): %w", err)
		}
		r.metricsLn = ln
		r.onClose(func() { _ = ln.Close() })
	}
	for _, step := range []func(config, *tracing.Provider) error{r.openVolume, r.openURLs, r.openS3, r.openSourceStore} {
		if err := step(cfg, tp); err != nil {
			return r, err
		}
	}
	return r, nil
}

func (r *resources) onClose(f func()) { r.closers = append(r.closers, f) }

// close closes what open opened, last first.
func (r *resources) close() {
	for _, f := range slices.Backward(r.closers) {
		f()
	}
}

// openVolume opens the shared volume for sources and for the feeders' feed files.
func (r *resources) openVolume(cfg config, _ *tracing.Provider) error {
	if cfg.volumeRoot == "" {
		return nil
	}
	volume, err := source.OpenVolume(cfg.volumeRoot)
	if err != nil {
		return fmt.Errorf("--volume-root (PARTFLOW_VOLUME_ROOT): %w", err)
	}
	r.onClose(func() { _ = volume.Close() })
	r.sources.Volume = volume
	feedRoot, err := os.OpenRoot(cfg.volumeRoot)
	if err != nil {
		return fmt.Errorf("--volume-root (PARTFLOW_VOLUME_ROOT): %w", err)
	}
	r.onClose(func() { _ = feedRoot.Close() })
	r.listings[feed.KindFile] = feed.Volume{Root: feedRoot}
	return nil
}

// openURLs sets up URL sources, with their per-host headers.
func (r *resources) openURLs(cfg config, _ *tracing.Provider) error {
	if len(cfg.url.AllowHosts) == 0 {
		return nil
	}
	if cfg.urlHeadersFile != "" {
		headers, err := source.LoadURLHeaders(cfg.urlHeadersFile)
		if err != nil {
			return fmt.Errorf("--url-headers-file (PARTFLOW_URL_HEADERS_FILE): %w", err)
		}
		cfg.url.Headers = headers
		for host := range headers {
			r.urlHeaderHosts = append(r.urlHeaderHosts, host)
		}
		slices.Sort(r.urlHeaderHosts)
	}
	urls, err := source.NewURLReader(cfg.url)
	if err != nil {
		return fmt.Errorf("URL sources (--allow-url-host, PARTFLOW_ALLOW_URL_HOSTS and the --url-* flags): %w", err)
	}
	r.onClose(func() { _ = urls.Close() })
	r.sources.URL = urls
	return nil
}

// openS3 makes the destination's S3 client.
func (r *resources) openS3(cfg config, tp *tracing.Provider) error {
	s3cfg := cfg.s3.config(cfg.s3Endpoint)
	s3cfg.BandwidthLimit, s3cfg.MaxIdleConns = cfg.run.bwlimit, cfg.run.concurrency
	s3cfg.WrapTransport = tp.Transport
	s3, err := storage.NewMinio(s3cfg)
	if err != nil {
		return fmt.Errorf("S3 (--s3-endpoint or PARTFLOW_S3_ENDPOINT, --s3-bucket-lookup, --s3-ca-bundle, AWS_* credentials, AWS_REGION): %w", err)
	}
	r.s3 = s3
	return nil
}

// openSourceStore makes the S3 source store's client, when there is one; on the destination's
// own store s3:// sources are copied server-side.
func (r *resources) openSourceStore(cfg config, _ *tracing.Provider) error {
	st := cfg.sourceS3
	if st.cfg == nil {
		return nil
	}
	scfg := *st.cfg
	scfg.MaxIdleConns = cfg.run.concurrency
	store, err := storage.NewMinio(scfg)
	if err != nil {
		return fmt.Errorf("S3 source store (--source-s3-endpoint or PARTFLOW_SOURCE_S3_ENDPOINT, "+
			"--source-s3-*, PARTFLOW_SOURCE_AWS_* credentials): %w", err)
	}
	r.onClose(store.CloseIdleConnections)
	if r.sources.S3, err = s3source.New(s3source.Config{Store: store, CopyTags: st.copyTags}); err != nil {
		return err
	}
	if st.copy {
		r.copier = r.s3
	}
	r.listings[feed.KindS3] = feed.S3{Store: store}
	return nil
}

// serveMetrics serves /metrics, /healthz and /readyz on r's listener, if any, until the
// returned stop is called.
func (r *resources) serveMetrics(ctx context.Context, log *slog.Logger, addr string, probes worker.Probes) (stop func()) {
	if r.metricsLn == nil {
		return func() {}
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: worker.NewHTTPHandler(probes)}
	go func() {
		if err := srv.Serve(r.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("MetricsServerFailed", "addr", addr, "error", err)
		}
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
}

// bufferGauges export the worker's memory budget and what it holds now.
func bufferGauges(w *worker.Worker) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "partflow_buffer_bytes",
			Help: "Bytes of part and PUT buffers held now (at most partflow_memory_budget_bytes)."},
			func() float64 { return float64(w.Budget().InUse()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "partflow_memory_budget_bytes",
			Help: "The worker's memory budget (--memory-budget), also the largest part it accepts."},
			func() float64 { return float64(w.Budget().Size()) }),
	}
}
