package load

import (
	"fmt"
	"math"
	"slices"
)

// RegressionTest is the rule load runs are judged by. A load run yields one
// value per KPI, and a rank test of one value against n baseline runs cannot
// reach 95 % confidence below n = 19 (Mann-Whitney's smallest p is
// 1/(n+1)), so load KPIs use a robust band instead:
//
//	regression  when  value is worse than  median(baseline) ± band
//	band = max(k × 1.4826 × MAD(baseline), threshold × median, floor)
//	k    = max(3.5, z(confidence))
//
// The median and the MAD (median absolute deviation; × 1.4826 it estimates
// a standard deviation) ignore a noisy run or two. k = 3.5 is Iglewicz and
// Hoaglin's outlier cut-off for the modified z-score; a policy asking for
// more confidence than that widens it. The relative threshold keeps a
// near-constant baseline from flagging changes nobody would act on, and the
// floor does the same for rates whose baseline is zero. Fewer than
// min_samples baseline runs give no verdict.
const RegressionTest = "median-mad-band"

// regressionRule carries the policy's regression settings.
type regressionRule struct {
	MinSamples int
	Threshold  float64
	Confidence float64
}

// band is the judgement of one value against its baseline.
type band struct {
	Median, Limit float64
	Samples       int
	Regressed     bool
}

// judge compares value with baseline; higherIsWorse tells the direction and
// floor the smallest band (in the KPI's unit).
func (r regressionRule) judge(value float64, baseline []float64, higherIsWorse bool, floor float64) (band, bool) {
	if len(baseline) < max(r.MinSamples, 2) {
		return band{Samples: len(baseline)}, false
	}
	med := medianOf(baseline)
	dev := make([]float64, len(baseline))
	for i, b := range baseline {
		dev[i] = math.Abs(b - med)
	}
	sigma := 1.4826 * medianOf(dev)
	width := max(max(3.5, zScore(r.Confidence))*sigma, r.Threshold*math.Abs(med), floor)
	b := band{Median: med, Samples: len(baseline)}
	if higherIsWorse {
		b.Limit = med + width
		b.Regressed = value > b.Limit
	} else {
		b.Limit = med - width
		b.Regressed = value < b.Limit
	}
	return b, true
}

func medianOf(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// zScore is the one-sided standard normal quantile of confidence (0.95 -> 1.645).
func zScore(confidence float64) float64 {
	if confidence <= 0 || confidence >= 1 {
		confidence = 0.95
	}
	return math.Sqrt2 * math.Erfinv(2*confidence-1)
}

func (b band) String() string {
	return fmt.Sprintf("baseline median %.4g over %d runs, limit %.4g", b.Median, b.Samples, b.Limit)
}
