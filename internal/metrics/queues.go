package metrics

import (
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
)

// QueueCollector exports asynq queue depths, read through asynq.Inspector at scrape time. The
// monitor registers it, once for the whole fleet.
//
// Besides partflow's own partflow_queue_tasks it exports the series asynqmon's metrics tab
// queries from Prometheus (asynq_queue_size, asynq_queue_latency_seconds,
// asynq_queue_memory_usage_approx_bytes, asynq_tasks_processed_total,
// asynq_tasks_failed_total, asynq_tasks_enqueued_total, asynq_queue_paused_total: the names
// asynq's x/metrics collector uses), so that tab works when the monitor is given a
// Prometheus address.
type QueueCollector struct {
	inspector *asynq.Inspector
	depth     *prometheus.Desc
	up        *prometheus.Desc

	size, latency, memory, processed, failed, enqueued, paused *prometheus.Desc
}

// NewQueueCollector returns a collector of the depth of every asynq queue.
func NewQueueCollector(inspector *asynq.Inspector) *QueueCollector {
	q := []string{"queue"}
	return &QueueCollector{
		inspector: inspector,
		depth: prometheus.NewDesc("partflow_queue_tasks", "Tasks in an asynq queue by task state.",
			[]string{"queue", "state"}, nil),
		up:        prometheus.NewDesc("partflow_queue_inspector_up", "1 when the queues could be read from Redis.", nil, nil),
		size:      prometheus.NewDesc("asynq_queue_size", "Tasks in the queue (all states).", q, nil),
		latency:   prometheus.NewDesc("asynq_queue_latency_seconds", "Age of the oldest pending task of the queue.", q, nil),
		memory:    prometheus.NewDesc("asynq_queue_memory_usage_approx_bytes", "Approximate Redis memory used by the queue.", q, nil),
		processed: prometheus.NewDesc("asynq_tasks_processed_total", "Tasks processed (succeeded or failed) from the queue.", q, nil),
		failed:    prometheus.NewDesc("asynq_tasks_failed_total", "Task attempts that failed in the queue.", q, nil),
		enqueued: prometheus.NewDesc("asynq_tasks_enqueued_total", "Tasks in the queue by state.",
			[]string{"queue", "state"}, nil),
		paused: prometheus.NewDesc("asynq_queue_paused_total", "1 when the queue is paused.", q, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.depth, c.up, c.size, c.latency, c.memory, c.processed, c.failed, c.enqueued, c.paused} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	queues, err := c.inspector.Queues()
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, q := range queues {
		info, err := c.inspector.GetQueueInfo(q)
		if err != nil {
			continue
		}
		for state, n := range map[string]int{"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
			"retry": info.Retry, "archived": info.Archived} {
			gauge(c.depth, float64(n), q, state)
		}
		for state, n := range map[string]int{"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
			"retry": info.Retry, "archived": info.Archived, "completed": info.Completed} {
			gauge(c.enqueued, float64(n), q, state)
		}
		gauge(c.size, float64(info.Size), q)
		gauge(c.latency, info.Latency.Seconds(), q)
		gauge(c.memory, float64(info.MemoryUsage), q)
		ch <- prometheus.MustNewConstMetric(c.processed, prometheus.CounterValue, float64(info.ProcessedTotal), q)
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(info.FailedTotal), q)
		paused := 0.0
		if info.Paused {
			paused = 1
		}
		gauge(c.paused, paused, q)
	}
}
