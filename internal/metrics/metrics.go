// Package metrics holds the worker's Prometheus series, partflow_build_info and the queue-depth
// collector the monitor exports. Every method is safe on a nil
// *Metrics, so code that reports metrics does not need to know whether anyone collects them.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/partflow/partflow/internal/buildinfo"
)

// Results of a part attempt, the values of the "result" label of partflow_parts_total.
const (
	PartUploaded  = "uploaded"  // uploaded and recorded
	PartDuplicate = "duplicate" // already recorded: nothing uploaded
	PartRetry     = "retry"     // failed; asynq retries it
	PartFailed    = "failed"    // failed for good; the upload failed
)

// Metrics are the worker's series.
type Metrics struct {
	BytesUploaded   prometheus.Counter
	Parts           *prometheus.CounterVec
	PartDuration    prometheus.Histogram
	PartsInFlight   prometheus.Gauge
	Retries         *prometheus.CounterVec
	UploadsFinished *prometheus.CounterVec
	JanitorActions  *prometheus.CounterVec
	TasksRescued    *prometheus.CounterVec
	FeedPaused      prometheus.Counter
	FeedCreated     prometheus.Counter
}

// New creates the series and registers them on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		BytesUploaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "partflow_bytes_uploaded_total", Help: "Bytes of parts and single-PUT objects uploaded to S3.",
		}),
		Parts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "partflow_parts_total", Help: "Part task attempts by result (uploaded, duplicate, retry, failed).",
		}, []string{"result"}),
		PartDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "partflow_part_duration_seconds", Help: "Time to read and upload one part.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}),
		PartsInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "partflow_parts_in_flight", Help: "Parts being read or uploaded right now.",
		}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "partflow_task_retries_total", Help: "Task attempts that failed and were handed back to asynq for a retry.",
		}, []string{"task"}),
		UploadsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "partflow_uploads_finished_total", Help: "Uploads this worker moved to a terminal state.",
		}, []string{"state"}),
		JanitorActions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "partflow_janitor_actions_total", Help: "Janitor actions by kind.",
		}, []string{"action"}),
		TasksRescued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "partflow_tasks_rescued_total", Help: "Tasks of dead workers this worker enqueued again (internal/liveness), by task type.",
		}, []string{"task"}),
		FeedPaused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "partflow_feed_paused_total", Help: "Feeder runs that created nothing because Redis memory was above the feed threshold.",
		}),
		FeedCreated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "partflow_feed_uploads_created_total", Help: "Uploads the feeders of this worker created from their migrations' listings.",
		}),
	}
	reg.MustRegister(m.BytesUploaded, m.Parts, m.PartDuration, m.PartsInFlight, m.Retries, m.UploadsFinished, m.JanitorActions,
		m.TasksRescued, m.FeedPaused, m.FeedCreated)
	return m
}

// PartStarted counts a part in flight; call the returned function when it ends.
func (m *Metrics) PartStarted() func() {
	if m == nil {
		return func() {}
	}
	m.PartsInFlight.Inc()
	return m.PartsInFlight.Dec
}

// PartDone counts a part attempt's result, with the bytes and time of an upload.
func (m *Metrics) PartDone(result string, bytes int64, d time.Duration) {
	if m == nil {
		return
	}
	m.Parts.WithLabelValues(result).Inc()
	if result == PartUploaded {
		m.BytesUploaded.Add(float64(bytes))
		m.PartDuration.Observe(d.Seconds())
	}
}

// ObjectUploaded counts the bytes of an object sent with a single PUT.
func (m *Metrics) ObjectUploaded(bytes int64) {
	if m != nil {
		m.BytesUploaded.Add(float64(bytes))
	}
}

// Retry counts a task attempt handed back for a retry.
func (m *Metrics) Retry(task string) {
	if m != nil {
		m.Retries.WithLabelValues(task).Inc()
	}
}

// UploadFinished counts an upload this worker moved to a terminal state.
func (m *Metrics) UploadFinished(state string) {
	if m != nil {
		m.UploadsFinished.WithLabelValues(state).Inc()
	}
}

// JanitorAction counts one janitor action.
func (m *Metrics) JanitorAction(action string) {
	if m != nil {
		m.JanitorActions.WithLabelValues(action).Inc()
	}
}

// TaskRescued counts a dead worker's task of type taskType enqueued again.
func (m *Metrics) TaskRescued(taskType string) {
	if m != nil {
		m.TasksRescued.WithLabelValues(taskType).Inc()
	}
}

// NewBuildInfo returns partflow_build_info: a constant 1 labelled with the program and the
// running build's version, VCS revision, build date and Go version.
func NewBuildInfo(program string) prometheus.Collector {
	info := buildinfo.Read()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "partflow_build_info",
		Help: "A constant 1 labelled with the build of the running partflow program.",
		ConstLabels: prometheus.Labels{"program": program, "version": info.Version, "revision": info.Revision,
			"build_date": info.Date, "goversion": info.GoVersion},
	})
	g.Set(1)
	return g
}

// FeedWaited counts a feeder run held back by Redis memory.
func (m *Metrics) FeedWaited() {
	if m != nil {
		m.FeedPaused.Inc()
	}
}

// FeedFed counts uploads a feeder created.
func (m *Metrics) FeedFed(n int64) {
	if m != nil {
		m.FeedCreated.Add(float64(n))
	}
}
