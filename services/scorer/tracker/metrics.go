package tracker

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	runs     *prometheus.CounterVec
	duration prometheus.Histogram
	actions  *prometheus.CounterVec
	waits    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trilens_tracker_syncs_total",
			Help: "Tracker sync rounds by outcome: ok, error (a rule failed; the next sync retries it), skipped (another replica held the lease), lease_error."}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "trilens_tracker_sync_seconds",
			Help: "Time one sync of every issue_trackers rule took.", Buckets: prometheus.ExponentialBuckets(0.05, 4, 8)}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trilens_tracker_issue_actions_total",
			Help: "What the sync did to tracker issues: created, adopted (found by its marker), updated, closed, reopened, waiver_proposed."},
			[]string{"tracker", "action"}),
		waits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trilens_tracker_rate_limit_waits_total",
			Help: "Requests a tracker's rate limit made wait before being sent again."}, []string{"tracker"}),
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.duration, m.actions, m.waits)
	}
	return m
}

func (m *metrics) run(err error, took time.Duration) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.runs.WithLabelValues(outcome).Inc()
	m.duration.Observe(took.Seconds())
}

// skipped counts a round another replica's lease (or a lease error) skipped.
func (m *metrics) skipped(err error) {
	if err != nil {
		m.runs.WithLabelValues("lease_error").Inc()
		return
	}
	m.runs.WithLabelValues("skipped").Inc()
}

func (m *metrics) action(tracker, action string) { m.actions.WithLabelValues(tracker, action).Inc() }

func (m *metrics) waited(tracker string, _ time.Duration) { m.waits.WithLabelValues(tracker).Inc() }
