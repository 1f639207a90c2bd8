package tracecollector

import (
	"container/heap"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// errOverloaded means the span queue is full: the client should retry later.
var errOverloaded = errors.New("trace collector is overloaded: span queue is full")

// errStopping means the collector is shutting down and takes no more spans.
var errStopping = errors.New("trace collector is shutting down")

// pipeline assembles spans into traces and traces into windows. Spans are
// partitioned by trace id over shards, each a goroutine owning its traces
// and windows outright (no locks on the hot path); windows of all shards are
// merged when they close.
type pipeline struct {
	cfg     *Config
	rules   *rules
	now     func() time.Time
	metrics *metrics
	shards  []*shard
	// queued counts spans accepted but not yet in a shard's trace buffer; it
	// is what bounds memory between the receivers and the shards.
	queued atomic.Int64
	mu     sync.RWMutex
	closed bool
	wg     sync.WaitGroup
}

type traceKey struct {
	tenant string
	id     pcommon.TraceID
}

type batch struct {
	tenant string
	spans  []span
}

// traceBuf holds the spans of one trace until no more are expected.
type traceBuf struct {
	spans []span
	// first and last are when the first and the latest span arrived.
	first, last int64
}

type flushReq struct {
	cutoff int64 // windows that end at or before cutoff close; math.MaxInt64 closes all
	reply  chan map[windowKey]*window
}

type shard struct {
	p      *pipeline
	in     chan batch
	flush  chan flushReq
	traces map[traceKey]*traceBuf
	// done remembers the traces analysed within MaxTraceAge, so a straggler
	// span (often the root, which ends last) does not start a second,
	// partial copy of a trace that was already counted.
	done     map[traceKey]struct{}
	doneFIFO []doneEntry
	due      deadlines
	buffered int
	windows  map[windowKey]*window
	// closedBefore: windows starting before it have been flushed; a trace that
	// lands there now is late.
	closedBefore int64
	an           *analyzer
	res          result
	// maxBuffered is this shard's share of MaxBufferedSpans.
	maxBuffered int
}

func newPipeline(cfg *Config, rules *rules, now func() time.Time, m *metrics) *pipeline {
	p := &pipeline{cfg: cfg, rules: rules, now: now, metrics: m}
	for range cfg.shards() {
		p.shards = append(p.shards, &shard{
			p: p, in: make(chan batch, 256), flush: make(chan flushReq),
			traces: map[traceKey]*traceBuf{}, done: map[traceKey]struct{}{}, windows: map[windowKey]*window{},
			closedBefore: math.MinInt64, an: newAnalyzer(rules),
			maxBuffered: max(cfg.MaxBufferedSpans/cfg.shards(), 1),
		})
	}
	return p
}

func (p *pipeline) start() {
	for _, s := range p.shards {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			s.run()
		}()
	}
}

// submit hands the spans of one request to the shards, or refuses them all
// when the queue is full: never an unbounded queue.
func (p *pipeline) submit(tenant string, spans []span) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return errStopping
	}
	n := int64(len(spans))
	if p.queued.Add(n) > int64(p.cfg.MaxQueuedSpans) {
		p.queued.Add(-n)
		return errOverloaded
	}
	parts := make([][]span, len(p.shards))
	for i := range spans {
		k := p.shardOf(spans[i].traceID)
		parts[k] = append(parts[k], spans[i])
	}
	for k, part := range parts {
		if len(part) == 0 {
			continue
		}
		// May wait for the shard, but not for long: queued bounds the spans
		// ahead, and MaxConcurrentRequests the handlers waiting here.
		p.shards[k].in <- batch{tenant: tenant, spans: part}
	}
	return nil
}

func (p *pipeline) shardOf(id pcommon.TraceID) int {
	// Trace ids are random in their low bytes (W3C), so they spread evenly.
	return int(uint64(id[15])|uint64(id[14])<<8|uint64(id[13])<<16) % len(p.shards)
}

// collect closes the windows that end at or before cutoff in every shard
// and merges them.
func (p *pipeline) collect(cutoff int64) map[windowKey]*window {
	out := map[windowKey]*window{}
	for _, s := range p.shards {
		req := flushReq{cutoff: cutoff, reply: make(chan map[windowKey]*window, 1)}
		s.flush <- req
		for k, w := range <-req.reply {
			if o := out[k]; o != nil {
				o.merge(w, p.rules.exemplars)
			} else {
				out[k] = w
			}
		}
	}
	return out
}

// close stops taking spans, completes every buffered trace and returns all
// open windows; the shards then exit.
func (p *pipeline) close() map[windowKey]*window {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	all := p.collect(math.MaxInt64)
	for _, s := range p.shards {
		close(s.in)
	}
	p.wg.Wait()
	return all
}

func (s *shard) run() {
	tick := time.NewTicker(s.p.cfg.DecisionWait / 4)
	defer tick.Stop()
	for {
		select {
		case b, ok := <-s.in:
			if !ok {
				return
			}
			s.add(b)
		case <-tick.C:
			s.expire(false)
		case req := <-s.flush:
			if req.cutoff == math.MaxInt64 {
				// Shutting down: nothing more will be submitted; take what is queued.
				for len(s.in) > 0 {
					s.add(<-s.in)
				}
				s.expire(true)
			}
			req.reply <- s.take(req.cutoff)
		}
	}
}

func (s *shard) add(b batch) {
	now := s.p.now().UnixNano()
	cfg := s.p.cfg
	s.forget(now)
	for i := range b.spans {
		k := traceKey{b.tenant, b.spans[i].traceID}
		t := s.traces[k]
		if t == nil {
			if _, ok := s.done[k]; ok {
				s.p.metrics.spans.WithLabelValues("dropped_after_decision").Inc()
				continue
			}
			t = &traceBuf{first: now}
			s.traces[k] = t
			heap.Push(&s.due, deadline{at: now + int64(cfg.DecisionWait), key: k})
		}
		if len(t.spans) >= cfg.MaxSpansPerTrace {
			s.p.metrics.spans.WithLabelValues("dropped_trace_too_long").Inc()
			continue
		}
		t.spans = append(t.spans, b.spans[i])
		t.last = now
		s.buffered++
	}
	s.p.queued.Add(-int64(len(b.spans)))
	if s.buffered > s.maxBuffered {
		s.expire(false)
	}
}

// expire finishes the traces that have been quiet for the decision wait or
// are older than the maximum age, and the oldest ones while the buffer is
// over its bound; all finishes every trace.
func (s *shard) expire(all bool) {
	cfg := s.p.cfg
	now := s.p.now().UnixNano()
	for s.due.Len() > 0 {
		d := s.due[0]
		over := s.buffered > s.maxBuffered
		if !all && !over && d.at > now {
			break
		}
		heap.Pop(&s.due)
		t := s.traces[d.key]
		if !all && !over {
			next := min(t.last+int64(cfg.DecisionWait), t.first+int64(cfg.MaxTraceAge))
			if next > now {
				heap.Push(&s.due, deadline{at: next, key: d.key})
				continue
			}
		}
		outcome := "complete"
		if over && !all {
			outcome = "evicted"
		}
		delete(s.traces, d.key)
		s.buffered -= len(t.spans)
		s.finish(d.key.tenant, t.spans, outcome)
		s.done[d.key] = struct{}{}
		s.doneFIFO = append(s.doneFIFO, doneEntry{at: now, key: d.key})
	}
	s.forget(now)
}

type doneEntry struct {
	at  int64
	key traceKey
}

// forget drops the analysed traces older than MaxTraceAge (no span of
// theirs is expected any more), and the oldest past as many entries as the
// shard may buffer spans, so the memory stays bounded.
func (s *shard) forget(now int64) {
	i := 0
	for i < len(s.doneFIFO) && (s.doneFIFO[i].at+int64(s.p.cfg.MaxTraceAge) <= now || len(s.doneFIFO)-i > s.maxBuffered) {
		delete(s.done, s.doneFIFO[i].key)
		i++
	}
	if i > 0 {
		s.doneFIFO = append(s.doneFIFO[:0], s.doneFIFO[i:]...)
	}
}

// finish analyses one trace and adds it to its window.
func (s *shard) finish(tenant string, spans []span, outcome string) {
	s.an.analyze(spans, &s.res)
	width := int64(s.p.rules.window)
	start := s.res.start - mod(s.res.start, width)
	if start < s.closedBefore {
		s.p.metrics.traces.WithLabelValues("late").Inc()
		return
	}
	s.p.metrics.traces.WithLabelValues(outcome).Inc()
	k := windowKey{tenant: tenant, env: spans[0].env, start: start, service: s.res.service, journey: s.res.journey}
	w := s.windows[k]
	if w == nil {
		w = newWindow()
		s.windows[k] = w
	}
	w.add(&s.res, s.p.rules.exemplars)
}

// take removes and returns the windows that end at or before cutoff.
func (s *shard) take(cutoff int64) map[windowKey]*window {
	width := int64(s.p.rules.window)
	out := map[windowKey]*window{}
	for k, w := range s.windows {
		if cutoff == math.MaxInt64 || k.start+width <= cutoff {
			out[k] = w
			delete(s.windows, k)
		}
	}
	if cutoff == math.MaxInt64 {
		s.closedBefore = math.MaxInt64
	} else {
		s.closedBefore = max(s.closedBefore, cutoff-mod(cutoff, width))
	}
	return out
}

// mod is the non-negative remainder, so windows align on negative times too.
func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

type deadline struct {
	at  int64
	key traceKey
}

// deadlines is a min-heap of when traces are due to be looked at.
type deadlines []deadline

func (d deadlines) Len() int           { return len(d) }
func (d deadlines) Less(i, j int) bool { return d[i].at < d[j].at }
func (d deadlines) Swap(i, j int)      { d[i], d[j] = d[j], d[i] }
func (d *deadlines) Push(x any)        { *d = append(*d, x.(deadline)) }
func (d *deadlines) Pop() any {
	old := *d
	x := old[len(old)-1]
	*d = old[:len(old)-1]
	return x
}
