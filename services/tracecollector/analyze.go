package tracecollector

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	tracev1 "github.com/trilens/trilens/proto/trilens/trace/v1"
)

// numHops is the number of HopClass values, so hop times fit in an array.
const numHops = int(tracev1.HopClass_HOP_CLASS_INTERNAL) + 1

// result is what one complete trace contributes to its window.
type result struct {
	service, journey string
	start, dur       int64
	err              bool
	weight           float64
	traceID          pcommon.TraceID
	// hop is the critical-path time per hop class; hopPeer the peer that took most of it.
	hop     [numHops]int64
	hopPeer [numHops]string
	found   []finding
	// queries are the DB spans, for the slow-query ranking.
	queries []query
}

// finding is one detection within one trace.
type finding struct {
	typ       tracev1.DetectionType
	operation string
	parentOp  string
	// occurrences is the number of spans involved; total their time; savings
	// what a fix would take off this trace.
	occurrences int
	total       int64
	savings     int64
}

type query struct {
	stmt string
	dur  int64
}

// analyzer works out one trace at a time, reusing its scratch space.
type analyzer struct {
	rules    *rules
	index    map[pcommon.SpanID]int
	children [][]int
	crit     []int64
	visited  []bool
	order    []int
}

func newAnalyzer(r *rules) *analyzer {
	return &analyzer{rules: r, index: map[pcommon.SpanID]int{}}
}

// analyze reduces the spans of one trace to its result. spans is reordered.
func (a *analyzer) analyze(spans []span, res *result) {
	*res = result{found: res.found[:0], queries: res.queries[:0]}
	n := len(spans)
	clear(a.index)
	for i := range spans {
		a.index[spans[i].id] = i
	}
	a.children = grow(a.children, n)
	for i := range a.children {
		a.children[i] = a.children[i][:0]
	}
	// The root is the earliest span whose parent is not in the trace: a trace
	// that starts in a browser or an unsampled caller has a remote parent.
	root := -1
	for i := range spans {
		p, ok := a.index[spans[i].parent]
		if spans[i].parent.IsEmpty() || !ok || p == i {
			if root < 0 || spans[i].parent.IsEmpty() && !spans[root].parent.IsEmpty() ||
				spans[i].parent.IsEmpty() == spans[root].parent.IsEmpty() && spans[i].start < spans[root].start {
				root = i
			}
			continue
		}
		a.children[p] = append(a.children[p], i)
	}
	r := &spans[root]
	res.start, res.dur, res.err, res.traceID, res.weight = r.start, r.dur(), r.err, r.traceID, r.weight
	entry := a.entry(spans, root)
	res.service = spans[entry].service
	res.journey = a.rules.journey(r, res.service, spans[entry].route)

	a.crit = growZero(a.crit, n)
	a.visited = growBool(a.visited, n)
	a.critical(spans, root, r.start, r.end)
	var peerTime [numHops]int64
	for i := range spans {
		c := spans[i].class
		if a.crit[i] == 0 {
			continue
		}
		res.hop[c] += a.crit[i]
		// The peer named for a hop is the one that took the most time in one span.
		if a.crit[i] > peerTime[c] {
			peerTime[c], res.hopPeer[c] = a.crit[i], spans[i].peer
		}
	}

	for i := range spans {
		s := &spans[i]
		if s.class == tracev1.HopClass_HOP_CLASS_DB {
			res.queries = append(res.queries, query{stmt: s.stmt, dur: s.dur()})
		}
		if s.class == tracev1.HopClass_HOP_CLASS_EXTERNAL && s.client() && a.crit[i] >= max(a.rules.thirdPartyMin, 1) {
			res.found = append(res.found, finding{
				typ: tracev1.DetectionType_DETECTION_TYPE_SYNC_THIRD_PARTY, operation: s.peer + " " + s.name,
				parentOp: a.parentName(spans, s), occurrences: 1, total: a.crit[i], savings: a.crit[i],
			})
		}
	}
	for p := range spans {
		if len(a.children[p]) >= 2 {
			a.siblings(spans, p, res)
		}
	}
	res.found = mergeFindingsOfTrace(res.found)
}

// mergeFindingsOfTrace sums the findings of one trace that share type,
// operation and parent, so a trace counts once among the affected traces.
func mergeFindingsOfTrace(fs []finding) []finding {
	if len(fs) < 2 {
		return fs
	}
	slices.SortFunc(fs, func(x, y finding) int {
		return cmp.Or(cmp.Compare(x.typ, y.typ), strings.Compare(x.operation, y.operation), strings.Compare(x.parentOp, y.parentOp))
	})
	out := fs[:1]
	for _, f := range fs[1:] {
		last := &out[len(out)-1]
		if f.typ == last.typ && f.operation == last.operation && f.parentOp == last.parentOp {
			last.occurrences += f.occurrences
			last.total += f.total
			last.savings += f.savings
			continue
		}
		out = append(out, f)
	}
	return out
}

// entry is the shallowest server span with an http.route (breadth first from
// the root), else the root: the service that owns the request, behind any
// CDN or edge hops.
func (a *analyzer) entry(spans []span, root int) int {
	if spans[root].route != "" {
		return root
	}
	queue := append(a.order[:0], root)
	for i := 0; i < len(queue) && i < len(spans); i++ {
		s := &spans[queue[i]]
		if s.route != "" && s.kind == ptrace.SpanKindServer {
			a.order = queue
			return queue[i]
		}
		queue = append(queue, a.children[queue[i]]...)
	}
	a.order = queue
	return root
}

func (a *analyzer) parentName(spans []span, s *span) string {
	if p, ok := a.index[s.parent]; ok {
		return spans[p].name
	}
	return ""
}

// critical walks the critical path of span i within [lo, hi] and credits each
// stretch of time on it to the span that owns it: from the end backwards, the
// last child to finish is what the span waited for, then the child that was
// running when that one started, and so on; the gaps are the span's own time.
// Every instant of the root's duration is credited to exactly one span.
func (a *analyzer) critical(spans []span, i int, lo, hi int64) {
	if a.visited[i] {
		return
	}
	a.visited[i] = true
	s := &spans[i]
	lo, hi = max(lo, s.start), min(hi, s.end)
	if hi <= lo {
		return
	}
	kids := a.children[i]
	slices.SortFunc(kids, func(x, y int) int { return cmp.Compare(spans[y].end, spans[x].end) })
	cur := hi
	for _, k := range kids {
		c := &spans[k]
		if cur <= lo {
			break
		}
		if c.start >= cur || c.end <= lo {
			continue
		}
		end := min(c.end, cur)
		a.crit[i] += cur - end
		a.critical(spans, k, lo, end)
		cur = max(c.start, lo)
	}
	a.crit[i] += cur - lo
}

// siblings finds N+1 statements and serial client calls among the children of p.
func (a *analyzer) siblings(spans []span, p int, res *result) {
	kids := a.children[p]
	parent := spans[p].name
	// N+1: many DB children with the same statement shape.
	slices.SortFunc(kids, func(x, y int) int {
		if c := strings.Compare(spans[x].stmt, spans[y].stmt); c != 0 {
			return c
		}
		return cmp.Compare(spans[x].start, spans[y].start)
	})
	for i := 0; i < len(kids); {
		j := i
		for j < len(kids) && spans[kids[j]].stmt == spans[kids[i]].stmt {
			j++
		}
		if s := &spans[kids[i]]; s.class == tracev1.HopClass_HOP_CLASS_DB && j-i >= a.rules.nPlusOneMin {
			var total, longest int64
			for _, k := range kids[i:j] {
				total += spans[k].dur()
				longest = max(longest, spans[k].dur())
			}
			// One batched query costs about as much as the longest of them.
			res.found = append(res.found, finding{
				typ: tracev1.DetectionType_DETECTION_TYPE_N_PLUS_ONE, operation: s.stmt, parentOp: parent,
				occurrences: j - i, total: total, savings: total - longest,
			})
		}
		i = j
	}
	// Serial calls: non-DB client children one after the other with (almost) no gap.
	calls := a.order[:0]
	for _, k := range kids {
		if c := &spans[k]; c.client() && c.class != tracev1.HopClass_HOP_CLASS_DB {
			calls = append(calls, k)
		}
	}
	slices.SortFunc(calls, func(x, y int) int { return cmp.Compare(spans[x].start, spans[y].start) })
	for i := 0; i < len(calls); {
		j := i + 1
		for j < len(calls) {
			prev, next := &spans[calls[j-1]], &spans[calls[j]]
			if next.start < prev.end || next.start-prev.end > a.rules.serialMaxGap {
				break
			}
			j++
		}
		if j-i >= a.rules.serialMin {
			var total, longest int64
			for _, k := range calls[i:j] {
				total += spans[k].dur()
				longest = max(longest, spans[k].dur())
			}
			// Run in parallel, the calls would take as long as the longest.
			res.found = append(res.found, finding{
				typ: tracev1.DetectionType_DETECTION_TYPE_SERIAL_CALLS, operation: callSequence(spans, calls[i:j]),
				parentOp: parent, occurrences: j - i, total: total, savings: total - longest,
			})
		}
		i = j
	}
	a.order = calls
}

// callSequence names a run of calls: "POST /charge@api.pay.example ×3".
func callSequence(spans []span, run []int) string {
	var b strings.Builder
	for i := 0; i < len(run); {
		j := i
		op := spans[run[i]].name + "@" + spans[run[i]].peer
		for j < len(run) && spans[run[j]].name+"@"+spans[run[j]].peer == op {
			j++
		}
		if b.Len() > 0 {
			b.WriteString(" → ")
		}
		b.WriteString(op)
		if j-i > 1 {
			b.WriteString(" ×" + strconv.Itoa(j-i))
		}
		i = j
	}
	return b.String()
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return append(s[:cap(s)], make([]T, n-cap(s))...)[:n]
	}
	return s[:n]
}

func growZero(s []int64, n int) []int64 {
	s = grow(s, n)
	clear(s)
	return s
}

func growBool(s []bool, n int) []bool {
	s = grow(s, n)
	clear(s)
	return s
}
