package tracecollector

import (
	"cmp"
	"slices"

	"github.com/DataDog/sketches-go/ddsketch"

	"github.com/trilens/trilens/pkg/events"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	tracev1 "github.com/trilens/trilens/proto/trilens/trace/v1"
)

// Quantiles come from DDSketch (github.com/DataDog/sketches-go): it
// guarantees a relative error on every quantile (we use 0.5%, inside the 1%
// the budgets need), it merges exactly (shards, replicas and hourly rollups
// combine without loss of that guarantee), takes weighted values (sampled
// traces count 1/p times) and encodes compactly for the event. HDR
// histograms need a fixed range up front and t-digest has no relative bound.
const (
	sketchAccuracy = 0.005
	// sketchBins bounds a sketch's memory; 2048 bins at 0.5% span 1 µs to
	// about 20 hours before the lowest bins collapse.
	sketchBins = 2048
)

func newSketch() *ddsketch.DDSketch {
	s, err := ddsketch.LogCollapsingLowestDenseDDSketch(sketchAccuracy, sketchBins)
	if err != nil {
		panic(err) // only for invalid constants
	}
	return s
}

// windowKey identifies the aggregate of one journey of one service in one window.
type windowKey struct {
	tenant           string
	env              eventv1.Environment
	start            int64
	service, journey string
}

// window aggregates the traces of one windowKey.
type window struct {
	count, errors, maxMs float64
	sketch               *ddsketch.DDSketch
	hops                 [numHops]*hopAgg
	found                map[findingKey]*findingAgg
	queries              map[string]*findingAgg
}

type hopAgg struct {
	count, totalMs float64
	sketch         *ddsketch.DDSketch
	peers          map[string]float64
}

type findingKey struct {
	typ                 tracev1.DetectionType
	operation, parentOp string
}

// findingAgg sums one finding over the traces of a window.
type findingAgg struct {
	occurrences, affected, totalMs, savingsMs float64
	exemplars                                 []exemplar
}

type exemplar struct {
	traceID string
	costMs  float64
}

// maxQueries bounds the distinct statements a window ranks; statements past
// it are counted under one shape so memory stays bounded.
const maxQueries = 10000

func newWindow() *window {
	return &window{sketch: newSketch(), found: map[findingKey]*findingAgg{}, queries: map[string]*findingAgg{}}
}

// add folds one trace's result into the window.
func (w *window) add(r *result, exemplars int) {
	wt := r.weight
	ms := nanosToMs(r.dur)
	w.count += wt
	if r.err {
		w.errors += wt
	}
	w.maxMs = max(w.maxMs, ms)
	_ = w.sketch.AddWithCount(ms, wt)
	for c, t := range r.hop {
		if t == 0 {
			continue
		}
		h := w.hops[c]
		if h == nil {
			h = &hopAgg{sketch: newSketch(), peers: map[string]float64{}}
			w.hops[c] = h
		}
		h.count += wt
		h.totalMs += nanosToMs(t) * wt
		_ = h.sketch.AddWithCount(nanosToMs(t), wt)
		h.peers[r.hopPeer[c]] += nanosToMs(t) * wt
	}
	id := r.traceID.String()
	for _, f := range r.found {
		k := findingKey{f.typ, f.operation, f.parentOp}
		a := w.found[k]
		if a == nil {
			a = &findingAgg{}
			w.found[k] = a
		}
		a.occurrences += float64(f.occurrences) * wt
		a.affected += wt
		a.totalMs += nanosToMs(f.total) * wt
		a.savingsMs += nanosToMs(f.savings) * wt
		a.exemplars = addExemplar(a.exemplars, exemplar{id, nanosToMs(f.savings)}, exemplars)
	}
	// A trace counts once per statement for affected traces, however often it ran it.
	seen := map[string]bool{}
	for _, q := range r.queries {
		stmt := q.stmt
		a := w.queries[stmt]
		if a == nil {
			if len(w.queries) >= maxQueries {
				stmt = "(other statements)"
				a = w.queries[stmt]
			}
			if a == nil {
				a = &findingAgg{}
				w.queries[stmt] = a
			}
		}
		a.occurrences += wt
		a.totalMs += nanosToMs(q.dur) * wt
		if !seen[stmt] {
			seen[stmt] = true
			a.affected += wt
		}
		a.exemplars = addExemplar(a.exemplars, exemplar{id, nanosToMs(q.dur)}, exemplars)
	}
}

// addExemplar keeps the n costliest traces, once each.
func addExemplar(ex []exemplar, e exemplar, n int) []exemplar {
	for i := range ex {
		if ex[i].traceID == e.traceID {
			ex[i].costMs = max(ex[i].costMs, e.costMs)
			return ex
		}
	}
	if len(ex) < n {
		return append(ex, e)
	}
	low := 0
	for i := range ex {
		if ex[i].costMs < ex[low].costMs {
			low = i
		}
	}
	if e.costMs > ex[low].costMs {
		ex[low] = e
	}
	return ex
}

// merge folds o (the same key from another shard) into w.
func (w *window) merge(o *window, exemplars int) {
	w.count += o.count
	w.errors += o.errors
	w.maxMs = max(w.maxMs, o.maxMs)
	_ = w.sketch.MergeWith(o.sketch)
	for c, h := range o.hops {
		if h == nil {
			continue
		}
		if w.hops[c] == nil {
			w.hops[c] = h
			continue
		}
		w.hops[c].count += h.count
		w.hops[c].totalMs += h.totalMs
		_ = w.hops[c].sketch.MergeWith(h.sketch)
		for p, t := range h.peers {
			w.hops[c].peers[p] += t
		}
	}
	mergeFindings(w.found, o.found, exemplars)
	mergeFindings(w.queries, o.queries, exemplars)
}

func mergeFindings[K comparable](into, from map[K]*findingAgg, exemplars int) {
	for k, f := range from {
		a := into[k]
		if a == nil {
			into[k] = f
			continue
		}
		a.occurrences += f.occurrences
		a.affected += f.affected
		a.totalMs += f.totalMs
		a.savingsMs += f.savingsMs
		for _, e := range f.exemplars {
			a.exemplars = addExemplar(a.exemplars, e, exemplars)
		}
	}
}

func nanosToMs(n int64) float64 { return float64(n) / 1e6 }

func quantiles(s *ddsketch.DDSketch) (p50, p95, p99 float64) {
	q, err := s.GetValuesAtQuantiles([]float64{0.5, 0.95, 0.99})
	if err != nil {
		return 0, 0, 0
	}
	return q[0], q[1], q[2]
}

func encodeSketch(s *ddsketch.DDSketch) []byte {
	var b []byte
	s.Encode(&b, false)
	return b
}

// proto renders the window's latency aggregate.
func (w *window) proto(k windowKey, width int64) *tracev1.Window {
	pw := &tracev1.Window{
		StartUnixNano: k.start, DurationNanos: width, Service: k.service, Journey: k.journey,
		Count: w.count, Errors: w.errors, MaxMs: w.maxMs, Sketch: encodeSketch(w.sketch),
	}
	pw.P50Ms, pw.P95Ms, pw.P99Ms = quantiles(w.sketch)
	for c, h := range w.hops {
		if h == nil {
			continue
		}
		ph := &tracev1.HopLatency{Hop: tracev1.HopClass(c), Peer: topPeer(h.peers), Count: h.count, TotalMs: h.totalMs, Sketch: encodeSketch(h.sketch)}
		ph.P50Ms, ph.P95Ms, ph.P99Ms = quantiles(h.sketch)
		pw.Hops = append(pw.Hops, ph)
	}
	return pw
}

func topPeer(peers map[string]float64) string {
	best, bt := "", -1.0
	for p, t := range peers {
		if t > bt || t == bt && p < best {
			best, bt = p, t
		}
	}
	return best
}

// detections renders the window's findings, and its top statements by total time.
func (w *window) detections(k windowKey, top int, minTotalMs float64) []*tracev1.Detection {
	var out []*tracev1.Detection
	for fk, f := range w.found {
		out = append(out, detection(k, fk, f))
	}
	stmts := make([]string, 0, len(w.queries))
	for s := range w.queries {
		stmts = append(stmts, s)
	}
	slices.SortFunc(stmts, func(a, b string) int {
		if c := cmp.Compare(w.queries[b].totalMs, w.queries[a].totalMs); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	for _, s := range stmts[:min(top, len(stmts))] {
		if w.queries[s].totalMs < minTotalMs {
			break
		}
		d := detection(k, findingKey{typ: tracev1.DetectionType_DETECTION_TYPE_SLOW_QUERY, operation: s}, w.queries[s])
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b *tracev1.Detection) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(b.TotalMs, a.TotalMs), cmp.Compare(a.Fingerprint, b.Fingerprint))
	})
	return out
}

func detection(k windowKey, fk findingKey, f *findingAgg) *tracev1.Detection {
	d := &tracev1.Detection{
		Type: fk.typ, Service: k.service, Journey: k.journey, Operation: fk.operation, ParentOperation: fk.parentOp,
		// The fingerprint stays the same across windows, so a finding's lifecycle can follow it.
		Fingerprint:         events.ID("trace", fk.typ.String(), k.service, k.journey, fk.parentOp, fk.operation),
		Occurrences:         f.occurrences,
		AffectedTraces:      f.affected,
		TotalMs:             f.totalMs,
		WindowStartUnixNano: k.start,
	}
	if f.affected > 0 {
		d.SavingsMs = f.savingsMs / f.affected
	}
	ex := slices.Clone(f.exemplars)
	slices.SortFunc(ex, func(a, b exemplar) int {
		return cmp.Or(cmp.Compare(b.costMs, a.costMs), cmp.Compare(a.traceID, b.traceID))
	})
	for _, e := range ex {
		d.ExemplarTraceIds = append(d.ExemplarTraceIds, e.traceID)
	}
	return d
}
