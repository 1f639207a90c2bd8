package alerter

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/trilens/trilens/pkg/bus"
)

type metrics struct {
	consumer      *bus.ConsumerMetrics
	verdicts      *prometheus.CounterVec
	notifications *prometheus.CounterVec
	attempts      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, consumer string) *metrics {
	m := &metrics{
		consumer: bus.NewConsumerMetrics(reg, consumer),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trilens_alerter_verdicts_total",
			Help: "Verdicts by what the alerter did with them: notified, suppressed (repeat), stale, unrouted, invalid."}, []string{"action"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trilens_alerter_notifications_total",
			Help: "Notifications by receiver kind and outcome: sent or dead_lettered."}, []string{"receiver", "outcome"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trilens_alerter_delivery_attempts_total",
			Help: "HTTP requests to receivers by receiver kind and result."}, []string{"receiver", "result"}),
	}
	if reg != nil {
		reg.MustRegister(m.verdicts, m.notifications, m.attempts)
	}
	return m
}

func (m *metrics) verdict(action string) { m.verdicts.WithLabelValues(action).Inc() }
func (m *metrics) sent(receiver, outcome string) {
	m.notifications.WithLabelValues(receiver, outcome).Inc()
}
func (m *metrics) attempt(receiver, result string) {
	m.attempts.WithLabelValues(receiver, result).Inc()
}
