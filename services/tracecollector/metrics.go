package tracecollector

import "github.com/prometheus/client_golang/prometheus"

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
			Name: "trilens_tracecollector_events_total", Help: "Events by kind and outcome (published, failed, dropped).",
		}, []string{"kind", "outcome"}),
		queued: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "trilens_tracecollector_queued_spans", Help: "Spans accepted and waiting for a shard.",
		}, queued),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.spans, m.bytes, m.traces, m.published, m.queued)
	}
	return m
}
