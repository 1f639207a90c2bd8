package quantile

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func exact(sorted []float64, q float64) float64 {
	return sorted[int(q*float64(len(sorted)-1))]
}

func TestQuantileWithinRelativeError(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	vals := make([]float64, 100000)
	for i := range vals {
		vals[i] = math.Exp(r.NormFloat64()*1.5 + 3) // log-normal latencies around 20 ms
		h.Add(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.95, 0.99, 0.999} {
		got, want := h.Quantile(q), exact(vals, q)
		if math.Abs(got-want)/want > 0.011 {
			t.Errorf("q%.3f = %.4f, exact %.4f: relative error %.4f > 1%%", q, got, want, math.Abs(got-want)/want)
		}
	}
	if h.Min() != vals[0] || h.Max() != vals[len(vals)-1] || h.Count() != uint64(len(vals)) {
		t.Errorf("min/max/count = %v/%v/%v, want %v/%v/%v", h.Min(), h.Max(), h.Count(), vals[0], vals[len(vals)-1], len(vals))
	}
}

func TestMergeEqualsAddingAll(t *testing.T) {
	var a, b, all Histogram
	for i := range 1000 {
		v := float64(i%97) + 0.5
		all.Add(v)
		if i%3 == 0 {
			a.Add(v)
		} else {
			b.Add(v * 1)
		}
	}
	b.Add(0)
	all.Add(0)
	a.Merge(&b)
	for _, q := range []float64{0, 0.5, 0.95, 1} {
		if a.Quantile(q) != all.Quantile(q) {
			t.Errorf("q%v: merged %v, direct %v", q, a.Quantile(q), all.Quantile(q))
		}
	}
	if a.Mean() != all.Mean() {
		t.Errorf("mean: merged %v, direct %v", a.Mean(), all.Mean())
	}
}

func TestEmptyAndOdd(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram should answer 0")
	}
	h.Add(math.NaN())
	h.Add(-3)
	h.Add(1e-9)
	if h.Quantile(0.99) != 0 {
		t.Errorf("NaN, negative and tiny values should count as zero, got %v", h.Quantile(0.99))
	}
}

func BenchmarkAdd(b *testing.B) {
	var h Histogram
	for i := range b.N {
		h.Add(float64(i%1000) * 0.37)
	}
}
