package tracecollector

import (
	"time"

	"github.com/trilens/trilens/pkg/policy"
	tracev1 "github.com/trilens/trilens/proto/trilens/trace/v1"
)

// rules is the policy as the collector reads it for every span and trace:
// journey matching, hop rules, third-party hosts and detection thresholds.
type rules struct {
	p *policy.Policy
	// attrKeys are the root-span attributes journey match rules read; only
	// these are copied out of each span.
	attrKeys       map[string]bool
	window         time.Duration
	nPlusOneMin    int
	serialMin      int
	serialMaxGap   int64 // ns
	thirdPartyMin  int64 // ns
	slowTop        int
	slowMinTotalMs float64
	exemplars      int
}

func newRules(p *policy.Policy) *rules {
	if p == nil {
		p = policy.Default()
	}
	d := &p.Detections
	r := &rules{
		p: p, attrKeys: map[string]bool{}, window: d.Window,
		nPlusOneMin: d.NPlusOne.MinSimilarSpans, serialMin: d.SerialCalls.MinCalls,
		serialMaxGap:   int64(d.SerialCalls.MaxGapMs * 1e6),
		thirdPartyMin:  int64(d.SyncThirdParty.MinMs * 1e6),
		slowTop:        d.SlowQueries.TopN,
		slowMinTotalMs: d.SlowQueries.MinTotalMs,
		exemplars:      d.Exemplars,
	}
	// The policy validates these; a policy built in code may leave them zero.
	if r.window <= 0 {
		r.window = time.Minute
	}
	r.nPlusOneMin = max(r.nPlusOneMin, 2)
	r.serialMin = max(r.serialMin, 2)
	r.exemplars = max(r.exemplars, 1)
	for _, j := range p.Journeys {
		for _, m := range j.Match {
			for k := range m.Attributes {
				r.attrKeys[k] = true
			}
		}
	}
	return r
}

// journey names the journey of a trace, "" when no match rule holds.
func (r *rules) journey(root *span, service, route string) string {
	var attr func(string) (string, bool)
	if len(root.attrs) > 0 {
		attr = root.attr
	}
	if j, ok := r.p.JourneyFor(service, root.name, route, attr); ok {
		return j.Name
	}
	return ""
}

var hopClasses = map[string]tracev1.HopClass{
	"cdn": tracev1.HopClass_HOP_CLASS_CDN, "edge": tracev1.HopClass_HOP_CLASS_EDGE,
	"api": tracev1.HopClass_HOP_CLASS_API, "db": tracev1.HopClass_HOP_CLASS_DB,
	"external": tracev1.HopClass_HOP_CLASS_EXTERNAL, "queue": tracev1.HopClass_HOP_CLASS_QUEUE,
	"internal": tracev1.HopClass_HOP_CLASS_INTERNAL,
}

// hopOf returns the class a hop rule gives a service, or unspecified.
func (r *rules) hopOf(service string) tracev1.HopClass {
	return hopClasses[r.p.HopFor(service)]
}

// external tells whether a client call to host leaves the organisation.
func (r *rules) external(host string) bool { return r.p.Detections.IsThirdParty(host) }
