package tracecollector

import (
	"strings"
	"time"

	tracev1 "github.com/trilens/trilens/proto/trilens/trace/v1"
)

// Rules are what the collector takes from the policy file: how traces map to
// journeys, which services are CDN or edge hops, which hosts are ours, and the
// detection thresholds. Zero values mean the documented defaults.
type Rules struct {
	Journeys []JourneyRule
	// Hops classify spans by service before the semantic conventions do:
	// OpenTelemetry has no attribute that says "this is the CDN".
	Hops []HopRule
	// InternalHosts are host globs of our own services; a client call to any
	// other host with a dot in its name is an external (third-party) call.
	InternalHosts []string
	Detect        Thresholds
}

// JourneyRule maps a trace to a journey by its root span and its entry (the
// shallowest server span with an http.route: CDN and edge spans at the root
// seldom have one). Empty fields match anything; the first rule that matches wins.
type JourneyRule struct {
	Name string
	// Service, SpanName and Route are globs ('*' matches any run of
	// characters) on the entry's service.name, the root span's name and the
	// entry's http.route.
	Service  string
	SpanName string
	Route    string
	// Attributes must all be present on the root span with these values.
	Attributes map[string]string
}

// HopRule puts the spans of services matching Service (a glob) in Class.
type HopRule struct {
	Service string
	Class   tracev1.HopClass
}

// Thresholds tune the detections.
type Thresholds struct {
	// NPlusOneMin is how many similar DB statements under one parent make an N+1 (default 5).
	NPlusOneMin int
	// SerialMin is how many back-to-back sibling client calls make a serial run (default 3).
	SerialMin int
	// SerialMaxGap is the most idle time between two calls of a serial run
	// (default 5ms): a longer gap suggests the parent worked on the previous
	// answer, so the calls may depend on each other.
	SerialMaxGap time.Duration
	// ThirdPartyMin is the least time a synchronous external call must add to
	// the critical path to be reported (default 1ms).
	ThirdPartyMin time.Duration
	// SlowQueryTop is how many statements per service and window are
	// reported, ranked by total time (default 10).
	SlowQueryTop int
	// Exemplars is how many trace ids a finding carries (default 5).
	Exemplars int
}

func (t Thresholds) withDefaults() Thresholds {
	if t.NPlusOneMin <= 0 {
		t.NPlusOneMin = 5
	}
	if t.SerialMin <= 0 {
		t.SerialMin = 3
	}
	if t.SerialMaxGap <= 0 {
		t.SerialMaxGap = 5 * time.Millisecond
	}
	if t.ThirdPartyMin <= 0 {
		t.ThirdPartyMin = time.Millisecond
	}
	if t.SlowQueryTop <= 0 {
		t.SlowQueryTop = 10
	}
	if t.Exemplars <= 0 {
		t.Exemplars = 5
	}
	return t
}

// defaultInternalHosts are names that never leave the cluster.
var defaultInternalHosts = []string{"localhost", "*.local", "*.internal", "*.svc", "*.cluster.local", "*.localdomain"}

// attrKeys lists the root-span attributes the journey rules read.
func (r *Rules) attrKeys() map[string]bool {
	keys := map[string]bool{}
	for _, j := range r.Journeys {
		for k := range j.Attributes {
			keys[k] = true
		}
	}
	return keys
}

// journey names the journey of a trace, "" when no rule matches.
func (r *Rules) journey(root *span, service, route string) string {
	for _, j := range r.Journeys {
		if !glob(j.Service, service) || !glob(j.SpanName, root.name) || !glob(j.Route, route) {
			continue
		}
		ok := true
		for k, v := range j.Attributes {
			if root.attr(k) != v {
				ok = false
				break
			}
		}
		if ok {
			return j.Name
		}
	}
	return ""
}

// hopOf returns the class a hop rule gives a service, or unspecified.
func (r *Rules) hopOf(service string) tracev1.HopClass {
	for _, h := range r.Hops {
		if glob(h.Service, service) {
			return h.Class
		}
	}
	return tracev1.HopClass_HOP_CLASS_UNSPECIFIED
}

// external tells whether a client call to host leaves our systems.
func (r *Rules) external(host string) bool {
	if host == "" || !strings.Contains(host, ".") || isIP(host) {
		return false
	}
	for _, g := range defaultInternalHosts {
		if glob(g, host) {
			return false
		}
	}
	for _, g := range r.InternalHosts {
		if glob(g, host) {
			return false
		}
	}
	return true
}

func isIP(h string) bool {
	if strings.Contains(h, ":") {
		return true
	}
	for _, c := range h {
		if (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return true
}

// glob matches s against a pattern where '*' matches any run of characters
// (slashes included, unlike path.Match); an empty pattern matches anything.
func glob(pattern, s string) bool {
	if pattern == "" || pattern == "*" {
		return true
	}
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, last)
}
