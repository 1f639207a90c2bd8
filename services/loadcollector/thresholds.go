package loadcollector

import (
	"fmt"
	"regexp"
	"strconv"

	loadtestv1 "github.com/trilens/trilens/proto/trilens/loadtest/v1"
	"github.com/trilens/trilens/services/loadcollector/internal/quantile"
)

// thresholdAgg keeps what a metric's thresholds need. A k6 NDJSON stream
// declares threshold expressions but not their results, so the collector
// evaluates them itself over the whole run (percentiles within 1%, so a
// threshold within 1% of its limit may differ from k6's verdict).
type thresholdAgg struct {
	kind  string // counter, gauge, rate, trend
	exprs []string

	hist              quantile.Histogram
	sum, trues, total float64
	last, gmin, gmax  float64
	seen              bool
}

func (t *thresholdAgg) add(v float64) {
	t.total++
	t.sum += v
	if v != 0 {
		t.trues++
	}
	if t.kind == "trend" {
		t.hist.Add(v)
	}
	if !t.seen || v < t.gmin {
		t.gmin = v
	}
	if !t.seen || v > t.gmax {
		t.gmax = v
	}
	t.last, t.seen = v, true
}

// thresholdRE is k6's threshold grammar: aggregation, operator, number.
var thresholdRE = regexp.MustCompile(`^\s*(avg|min|max|med|count|rate|value|p\((\d+(?:\.\d+)?)\))\s*(<=|>=|===|==|!=|<|>)\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*$`)

func (t *thresholdAgg) results(metric string, dur float64) []*loadtestv1.Threshold {
	out := make([]*loadtestv1.Threshold, 0, len(t.exprs))
	for _, expr := range t.exprs {
		v, err := t.evaluate(expr, dur)
		out = append(out, &loadtestv1.Threshold{Metric: metric, Expression: expr, Passed: err == nil && v})
	}
	return out
}

func (t *thresholdAgg) evaluate(expr string, dur float64) (bool, error) {
	m := thresholdRE.FindStringSubmatch(expr)
	if m == nil {
		return false, fmt.Errorf("threshold %q: unsupported expression", expr)
	}
	limit, _ := strconv.ParseFloat(m[4], 64)
	var got float64
	switch agg := m[1]; {
	case m[2] != "":
		p, _ := strconv.ParseFloat(m[2], 64)
		got = t.hist.Quantile(p / 100)
	case agg == "avg":
		got = t.hist.Mean()
	case agg == "min":
		got = t.gmin
	case agg == "max":
		got = t.gmax
	case agg == "med":
		got = t.hist.Quantile(0.5)
	case agg == "count":
		got = t.sum
	case agg == "value":
		got = t.last
	case agg == "rate" && t.kind == "counter":
		if dur > 0 {
			got = t.sum / dur
		}
	case agg == "rate":
		if t.total > 0 {
			got = t.trues / t.total
		}
	}
	switch m[3] {
	case "<":
		return got < limit, nil
	case "<=":
		return got <= limit, nil
	case ">":
		return got > limit, nil
	case ">=":
		return got >= limit, nil
	case "==", "===":
		return got == limit, nil
	default:
		return got != limit, nil
	}
}
