package regression

import (
	"fmt"
	"math"
)

// KPITest names the rule a KPI value is judged by against its baseline.
const KPITest = "prediction-t-test"

// kpiJudgement is the result of comparing one value with its baseline.
type kpiJudgement struct {
	Mean, SD float64
	Samples  int
	// T is the value's distance from the mean in prediction standard errors,
	// signed so that positive is worse; P is the one-sided p-value.
	T, P float64
	// Change is the relative change, positive when worse (0.2 = 20 % worse).
	Change    float64
	Regressed bool
}

// judgeKPI is the regression test of KPI series:
//
//	Given n ≥ min_samples baseline values with mean m and standard
//	deviation s, a new value x is a regression when both
//	  1. t = (x − m) / (s·√(1 + 1/n)) exceeds Student's t quantile with
//	     n − 1 degrees of freedom at the policy's confidence (one-sided
//	     p = P(T ≥ t) < 1 − confidence): x lies outside the prediction
//	     interval of the baseline, so the baseline's own noise explains it
//	     with probability below 1 − confidence; and
//	  2. the change (x − m)/|m| exceeds the policy's threshold, so a very
//	     steady baseline does not flag changes nobody would act on.
//
// For KPIs where lower is worse (throughput, headroom, scores) the signs
// flip. A zero spread makes the t-test decide by the threshold alone.
func judgeKPI(x float64, baseline []float64, higherIsWorse bool, minSamples int, threshold, confidence float64) (kpiJudgement, bool) {
	n := len(baseline)
	if n < max(minSamples, 3) {
		return kpiJudgement{Samples: n}, false
	}
	m, s := meanSD(baseline)
	j := kpiJudgement{Mean: m, SD: s, Samples: n}
	d := x - m
	if !higherIsWorse {
		d = -d
	}
	if m != 0 {
		j.Change = d / math.Abs(m)
	} else if d > 0 {
		j.Change = math.Inf(1)
	}
	// A constant baseline leaves rounding noise in the SD (1e-17 of the
	// mean); dividing by it would report t = 1e17. It is constant.
	if s <= 1e-9*math.Abs(m) {
		s, j.SD = 0, 0
	}
	if s > 0 {
		j.T = d / (s * math.Sqrt(1+1/float64(n)))
		j.P = 1 - studentCDF(j.T, float64(n-1))
	} else {
		j.T, j.P = math.Copysign(math.Inf(1), d), 0
		if d <= 0 {
			j.P = 1
		}
	}
	if confidence <= 0 || confidence >= 1 {
		confidence = 0.95
	}
	j.Regressed = j.P < 1-confidence && j.Change > threshold
	return j, true
}

func meanSD(v []float64) (mean, sd float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	if len(v) < 2 {
		return mean, 0
	}
	var ss float64
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(v)-1))
}

// changePoint finds the single split of a series that best separates two
// means (binary segmentation's first step): for every split leaving at
// least minSeg values on each side, Welch's t statistic of the two
// segments; the largest wins. It returns the index of the first value
// after the change, the two means and the two-sided p-value of that t
// (Welch–Satterthwaite degrees of freedom). Scanning every split inflates
// the chance of a spurious find, so callers should ask for a small p.
func changePoint(series []float64, minSeg int) (at int, before, after, p float64, ok bool) {
	best := 0.0
	for k := minSeg; k <= len(series)-minSeg; k++ {
		a, b := series[:k], series[k:]
		ma, sa := meanSD(a)
		mb, sb := meanSD(b)
		se := math.Sqrt(sa*sa/float64(len(a)) + sb*sb/float64(len(b)))
		if se == 0 {
			continue
		}
		t := math.Abs(mb-ma) / se
		if t > best {
			va, vb := sa*sa/float64(len(a)), sb*sb/float64(len(b))
			df := (va + vb) * (va + vb) / (va*va/float64(len(a)-1) + vb*vb/float64(len(b)-1))
			best, at, before, after = t, k, ma, mb
			p = 2 * (1 - studentCDF(t, df))
			ok = true
		}
	}
	return at, before, after, p, ok
}

// studentCDF is P(T ≤ t) for Student's t with df degrees of freedom, from
// the regularized incomplete beta function.
func studentCDF(t, df float64) float64 {
	if math.IsInf(t, 1) {
		return 1
	}
	if math.IsInf(t, -1) {
		return 0
	}
	x := df / (df + t*t)
	tail := 0.5 * regIncBeta(df/2, 0.5, x)
	if t > 0 {
		return 1 - tail
	}
	return tail
}

// regIncBeta is I_x(a, b), by the continued fraction of Numerical Recipes
// (modified Lentz), using the symmetry I_x(a,b) = 1 − I_{1−x}(b,a) where it
// converges faster.
func regIncBeta(a, b, x float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	la, _ := math.Lgamma(a + b)
	lb, _ := math.Lgamma(a)
	lc, _ := math.Lgamma(b)
	front := math.Exp(la - lb - lc + a*math.Log(x) + b*math.Log(1-x))
	if x < (a+1)/(a+b+2) {
		return front * betaCF(a, b, x) / a
	}
	return 1 - front*betaCF(b, a, 1-x)/b
}

func betaCF(a, b, x float64) float64 {
	const tiny, eps = 1e-300, 1e-14
	c, d := 1.0, 1-(a+b)*x/(a+1)
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	for m := 1.0; m <= 300; m++ {
		m2 := 2 * m
		aa := m * (b - m) * x / ((a + m2 - 1) * (a + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		h *= d * c
		aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < eps {
			break
		}
	}
	return h
}

// regressionSummary is the text of a regression verdict. It reads well
// when the baseline is constant (no t statistic to quote) or zero (no
// percentage to quote).
func regressionSummary(scope, kpi string, value float64, j kpiJudgement, base string) string {
	head := fmt.Sprintf("%s %s: %.4g is %sworse than", scope, kpi, value, percent(j.Change))
	if j.SD == 0 {
		return fmt.Sprintf("%s its constant baseline %.4g (%d points on %s)", head, j.Mean, j.Samples, base)
	}
	return fmt.Sprintf("%s the baseline mean %.4g (sd %.3g over %d points on %s; t = %.2f, p = %.2g)",
		head, j.Mean, j.SD, j.Samples, base, j.T, j.P)
}

// shiftSummary is the text of a change-point verdict.
func shiftSummary(scope, kpi string, change float64, ago int, before, after, p float64) string {
	return fmt.Sprintf("%s %s shifted %sworse %d points ago: mean %.4g before, %.4g since (Welch p = %.2g)",
		scope, kpi, percent(change), ago, before, after, p)
}

// percent prints a relative change with a trailing space, or nothing when
// it has no meaning: from a zero baseline any rise is infinitely large.
func percent(change float64) string {
	if math.IsInf(change, 0) || math.IsNaN(change) || math.Abs(change) >= 1e4 {
		return ""
	}
	return fmt.Sprintf("%.0f%% ", 100*change)
}
