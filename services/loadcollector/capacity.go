package loadcollector

import (
	"slices"

	loadtestv1 "github.com/trilens/trilens/proto/trilens/loadtest/v1"
	"github.com/trilens/trilens/services/loadcollector/internal/quantile"
)

// StepOptions tune how a stepped run is cut into load levels and where its
// knee is found.
type StepOptions struct {
	// MinSeconds is the shortest level kept, after trimming its edges.
	MinSeconds int `yaml:"min_seconds"`
	// KneeEfficiency: the knee is the last level before one whose throughput
	// grows by less than this share of its relative load increase.
	KneeEfficiency float64 `yaml:"knee_efficiency"`
	// SaturationRatio: the generator is taken as saturated when the Little's
	// law ratio at the top level exceeds the lowest level's by this factor.
	SaturationRatio float64 `yaml:"saturation_ratio"`
}

// step is one load level with what the envelope needs beyond the proto.
type step struct {
	*loadtestv1.Step
	reqs float64
	dur  quantile.Histogram
}

// littles is concurrency / (throughput × latency): about 1 when the VUs spend
// their time waiting on the system under test.
func (s *step) littles() float64 {
	w := s.dur.Mean() / 1000
	if s.Rps <= 0 || w <= 0 {
		return 0
	}
	return s.Vus / (s.Rps * w)
}

// envelope finds the knee and checks the load generator. Levels at the same
// VU count (a ramp down revisiting a level) are merged first.
func envelope(steps []step, opt StepOptions) *loadtestv1.Capacity {
	c := &loadtestv1.Capacity{}
	levels := mergeLevels(steps)
	if len(levels) == 0 {
		return c
	}
	for i := 1; i < len(levels); i++ {
		prev, cur := levels[i-1], levels[i]
		if prev.Rps <= 0 || prev.Vus <= 0 {
			continue
		}
		load := (cur.Vus - prev.Vus) / prev.Vus
		gain := (cur.Rps - prev.Rps) / prev.Rps
		if gain < opt.KneeEfficiency*load {
			c.KneeRps = prev.Rps
			break
		}
	}
	low, top := levels[0].littles(), levels[len(levels)-1].littles()
	c.LittlesLawRatio = top
	c.GeneratorSaturated = low > 0 && top > opt.SaturationRatio*low
	return c
}

func mergeLevels(steps []step) []*step {
	byVUs := map[float64]*step{}
	var out []*step
	for i := range steps {
		s := &steps[i]
		m := byVUs[s.Vus]
		if m == nil {
			m = &step{Step: &loadtestv1.Step{Vus: s.Vus}}
			byVUs[s.Vus] = m
			out = append(out, m)
		}
		m.DurationS += s.DurationS
		m.reqs += s.reqs
		m.dur.Merge(&s.dur)
		m.Rps = m.reqs / m.DurationS
	}
	slices.SortFunc(out, func(a, b *step) int {
		switch {
		case a.Vus < b.Vus:
			return -1
		case a.Vus > b.Vus:
			return 1
		}
		return 0
	})
	return out
}
