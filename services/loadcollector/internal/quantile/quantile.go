// Package quantile keeps latency distributions in bounded memory: a
// log-bucketed histogram with 1% relative error (the DDSketch bucket
// mapping), so the quantiles of a multi-gigabyte k6 stream cost a few
// kilobytes per series instead of every sample.
package quantile

import (
	"math"
	"slices"
)

const (
	// relErr is the relative accuracy of every quantile.
	relErr = 0.01
	// minValue is the smallest value kept apart from zero (1 µs in ms).
	minValue = 1e-3
)

var (
	gamma    = (1 + relErr) / (1 - relErr)
	logGamma = math.Log(gamma)
	// offset makes the index of minValue 1; index 0 is "at most minValue".
	offset = -int(math.Ceil(math.Log(minValue)/logGamma)) + 1
)

// Histogram counts values (milliseconds) in log buckets. Counts hold only
// the span of buckets seen so far, so a series of similar latencies stays small.
type Histogram struct {
	lo     int // bucket index of counts[0]
	counts []uint32
	n      uint64
	sum    float64
	min    float64
	max    float64
}

func index(v float64) int {
	if v <= minValue {
		return 0
	}
	return int(math.Ceil(math.Log(v)/logGamma)) + offset
}

// value is the representative of bucket i: within relErr of every value in it.
func value(i int) float64 {
	if i == 0 {
		return 0
	}
	return 2 * math.Pow(gamma, float64(i-offset)) / (gamma + 1)
}

// Add counts one value. NaN and negative values count as zero.
func (h *Histogram) Add(v float64) {
	if !(v > 0) {
		v = 0
	}
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += v
	h.bump(index(v), 1)
}

func (h *Histogram) bump(i int, c uint32) {
	switch {
	case len(h.counts) == 0:
		h.lo = i
		h.counts = append(h.counts, c)
		return
	case i < h.lo:
		h.counts = slices.Insert(h.counts, 0, make([]uint32, h.lo-i)...)
		h.lo = i
	case i >= h.lo+len(h.counts):
		h.counts = append(h.counts, make([]uint32, i-h.lo-len(h.counts)+1)...)
	}
	h.counts[i-h.lo] += c
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
	for j, c := range o.counts {
		if c != 0 {
			h.bump(o.lo+j, c)
		}
	}
}

// Count is the number of values added.
func (h *Histogram) Count() uint64 { return h.n }

// Mean is the exact mean (0 when empty).
func (h *Histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Min and Max are exact.
func (h *Histogram) Min() float64 { return h.min }
func (h *Histogram) Max() float64 { return h.max }

// Quantile returns the q-quantile (0..1) within 1% relative error, clamped to
// the exact minimum and maximum; 0 when empty.
func (h *Histogram) Quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	switch {
	case q <= 0:
		return h.min
	case q >= 1:
		return h.max
	}
	rank := uint64(q * float64(h.n-1))
	var seen uint64
	for j, c := range h.counts {
		seen += uint64(c)
		if seen > rank {
			return min(max(value(h.lo+j), h.min), h.max)
		}
	}
	return h.max
}
