package bus

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ConsumerMetrics count what a consumer does; a nil one counts nothing.
type ConsumerMetrics struct {
	deliveredTotal prometheus.Counter
	acked          prometheus.Counter
	dead           prometheus.Counter
	retriedTotal   prometheus.Counter
	oldest         prometheus.Gauge
	flushDuration  prometheus.Histogram
}

// NewConsumerMetrics registers the metrics of the consumer named consumer.
func NewConsumerMetrics(reg prometheus.Registerer, consumer string) *ConsumerMetrics {
	labels := prometheus.Labels{"consumer": consumer}
	m := &ConsumerMetrics{
		deliveredTotal: prometheus.NewCounter(prometheus.CounterOpts{Name: "trilens_bus_messages_delivered_total", Help: "Messages decoded and handed to a batch.", ConstLabels: labels}),
		acked:          prometheus.NewCounter(prometheus.CounterOpts{Name: "trilens_bus_messages_acked_total", Help: "Messages stored and acknowledged.", ConstLabels: labels}),
		dead:           prometheus.NewCounter(prometheus.CounterOpts{Name: "trilens_bus_messages_dead_lettered_total", Help: "Messages moved to the dead-letter stream.", ConstLabels: labels}),
		retriedTotal:   prometheus.NewCounter(prometheus.CounterOpts{Name: "trilens_bus_messages_retried_total", Help: "Messages that failed alone and were handed back with a delay.", ConstLabels: labels}),
		oldest: prometheus.NewGauge(prometheus.GaugeOpts{Name: "trilens_bus_oldest_unacked_seconds",
			Help: "Age of the oldest message the consumer has not acknowledged (for the scorer: the oldest unscored evidence); alert well before the stream's max age.", ConstLabels: labels}),
		flushDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "trilens_bus_flush_seconds", Help: "Time to store one batch.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
	}
	if reg != nil {
		reg.MustRegister(m.deliveredTotal, m.acked, m.dead, m.retriedTotal, m.oldest, m.flushDuration)
	}
	return m
}

func (m *ConsumerMetrics) delivered() {
	if m != nil {
		m.deliveredTotal.Inc()
	}
}

func (m *ConsumerMetrics) flushed(n int, d time.Duration) {
	if m != nil {
		m.acked.Add(float64(n))
		if d > 0 {
			m.flushDuration.Observe(d.Seconds())
		}
	}
}

func (m *ConsumerMetrics) deadLettered() {
	if m != nil {
		m.dead.Inc()
	}
}

func (m *ConsumerMetrics) retried() {
	if m != nil {
		m.retriedTotal.Inc()
	}
}
