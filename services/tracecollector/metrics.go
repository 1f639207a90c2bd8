package tracecollector

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests  *prometheus.CounterVec
	spans     *prometheus.CounterVec
	bytes     *prometheus.CounterVec
	traces    *prometheus.CounterVec
	published *prometheus.CounterVec
	queued    prometheus.GaugeFunc
}

func newMetrics(reg prometheus.Registerer, queued func() float64) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trilens_tracecollector_requests_total", Help: "OTLP export requests by transport and outcome.",
		}, []string{"transport", "outcome"}),
		spans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trilens_tracecollector_spans_total", Help: "Spans by outcome (accepted, rejected, refused, dropped_*).",
		}, []string{"outcome"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trilens_tracecollector_bytes_total", Help: "Decoded request bytes by transport.",
		}, []string{"transport"}),
		traces: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trilens_tracecollector_traces_total", Help: "Traces analysed by outcome (complete, evicted early, late for a closed window).",
		}, []string{"outcome"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trilens_tracecollector_events_total", Help: "Events by kind and outcome (published, failed, refused, dropped).",
		}, []string{"kind", "outcome"}),
		queued: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "trilens_tracecollector_queued_spans", Help: "Spans accepted and waiting for a shard.",
		}, queued),
	}
	if reg != nil {
		m.requests = register(reg, m.requests)
		m.spans = register(reg, m.spans)
		m.bytes = register(reg, m.bytes)
		m.traces = register(reg, m.traces)
		m.published = register(reg, m.published)
		// A gauge of a previous collector in the same registry reads that
		// collector's queue: replace it.
		reg.Unregister(m.queued)
		_ = reg.Register(m.queued)
	}
	return m
}

// register adds c to reg, or returns the one already there: a collector
// built again in the same process (a restarted module) keeps counting on.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}
