package scan

import (
	"slices"
	"time"
)

// covers reports whether a run speaks for a source: the same tool, and the
// same scope, or either not saying what it covered (a report that does not
// say what it covered replaces all its tool's findings, as does one that
// says so the findings of earlier reports that did not say).
func (rn run) covers(tool, scope string) bool {
	return tool == rn.tool && (scope == rn.scope || scope == "" || rn.scope == "")
}

// sourceTransitions computes the source rows a report changes, run by run
// (tool and scope): its findings become new, open or reopened sources; the
// sources the run covers that it no longer has become fixed, unless the run
// failed. Rows already at this report are left alone, and a run older than
// the state of what it covers changes nothing. sources is updated with the
// new rows.
func sourceTransitions(k reportKey, m *reportMeta, sources map[string]*sourceRow, current []lifecycleRow) []sourceRow {
	var out []sourceRow
	for _, rn := range m.runs {
		mine := func(r *sourceRow) bool { return rn.covers(r.Tool, r.Scope) }
		if slices.ContainsFunc(values(sources), func(r *sourceRow) bool { return mine(r) && r.ReportAt.After(m.observed) }) {
			continue // a newer report of this tool and scope already set its state
		}
		present := map[string]bool{}
		for i := range current {
			c := &current[i]
			if c.Tool != rn.tool || c.Scope != rn.scope {
				continue
			}
			r := sourceRow{Tenant: k.tenant, Repository: m.repository, Service: m.service, Branch: m.branch, Key: c.Key,
				Tool: c.Tool, Scope: c.Scope, Fingerprint: c.Fingerprint, State: StateNew, FirstSeen: m.observed,
				LastSeen: m.observed, FixedAt: never, LastReportID: k.id, ReportAt: m.observed,
				Severity: c.Severity, CVSS: c.CVSS, Reachability: c.Reachability}
			present[r.id()] = true
			switch old := sources[r.id()]; {
			case old == nil:
			case old.LastReportID == k.id:
				continue
			case old.State == StateFixed:
				r.State, r.FirstSeen = StateReopened, old.FirstSeen
			default:
				r.State, r.FirstSeen = StateOpen, old.FirstSeen
			}
			out = append(out, r)
		}
		if rn.failed {
			continue // what a failed run did not report may still be there
		}
		for id, old := range sources {
			if mine(old) && !present[id] && old.State != StateFixed && old.LastReportID != k.id {
				r := *old
				r.State, r.FixedAt, r.LastReportID, r.ReportAt = StateFixed, m.observed, k.id, m.observed
				out = append(out, r)
			}
		}
	}
	for i := range out {
		sources[out[i].id()] = &out[i]
	}
	return out
}

func values[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// findingTransitions computes the finding rows that the changed sources
// change: a finding is fixed when none of its sources is open, new when
// first seen, reopened when seen again after being fixed, open when a
// source saw it before; a new source of an open finding leaves its state.
func findingTransitions(k reportKey, m *reportMeta, st *branchState, current []lifecycleRow, changed []sourceRow) []lifecycleRow {
	byKey := map[string][]*sourceRow{}
	for _, s := range st.sources {
		byKey[s.Key] = append(byKey[s.Key], s)
	}
	reported := map[string]*lifecycleRow{}
	for i := range current {
		c := &current[i]
		if r, ok := reported[c.Key]; ok {
			r.Aliases = union(r.Aliases, c.Aliases)
		} else {
			r := *c
			reported[c.Key] = &r
		}
	}
	// seenBefore: a source of the finding that this report saw again.
	var keys []string
	seenBefore := map[string]bool{}
	for _, s := range changed {
		if _, ok := seenBefore[s.Key]; !ok {
			keys = append(keys, s.Key)
		}
		seenBefore[s.Key] = seenBefore[s.Key] || s.State == StateOpen
	}
	var out []lifecycleRow
	for _, key := range keys {
		if r, ok := findingState(k, m, st.findings[key], reported[key], byKey[key], seenBefore[key]); ok {
			out = append(out, r)
		}
	}
	return out
}

// findingState is the new state of one finding (old: its stored state,
// cur: what this report says of it) given all its sources.
func findingState(k reportKey, m *reportMeta, old, cur *lifecycleRow, srcs []*sourceRow, seenBefore bool) (lifecycleRow, bool) {
	active := slices.DeleteFunc(slices.Clone(srcs), func(s *sourceRow) bool { return s.State == StateFixed })
	var r lifecycleRow
	switch {
	case cur != nil:
		r = *cur
	case old != nil:
		r = *old
	default:
		return r, false
	}
	r.Tenant, r.Repository, r.Service, r.Branch = k.tenant, m.repository, m.service, m.branch
	r.LastReportID, r.ReportAt, r.LastSeen, r.FixedAt, r.ReopenedAt = k.id, m.observed, m.observed, never, never
	if old != nil {
		r.Tool, r.Fingerprint, r.FirstSeen, r.ReopenCount = old.Tool, old.Fingerprint, old.FirstSeen, old.ReopenCount
		r.ReportAt, r.ReopenedAt, r.FixedAt = later(old.ReportAt, m.observed), old.ReopenedAt, old.FixedAt
		r.Aliases = union(old.Aliases, r.Aliases)
		if cur == nil {
			r.LastSeen = old.LastSeen
		}
	}
	switch {
	case len(active) == 0:
		if old == nil || old.State == StateFixed {
			return r, false
		}
		r.State, r.FixedAt, r.Sources = StateFixed, m.observed, tools(srcs)
		return r, true
	case old == nil:
		r.State, r.FirstSeen = StateNew, m.observed
	case old.State == StateFixed:
		r.State, r.ReopenedAt, r.ReopenCount = StateReopened, m.observed, old.ReopenCount+1
	case seenBefore:
		r.State = StateOpen
	default:
		r.State = old.State
	}
	r.Sources, r.Severity, r.CVSS, r.Reachability = tools(active), worst(active), 0, strongest(active)
	for _, s := range active {
		r.CVSS = max(r.CVSS, s.CVSS)
	}
	return r, true
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// union is a's items and then those of b it lacks.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// tools are the sources' tools, sorted, once each.
func tools(srcs []*sourceRow) []string {
	out := []string{}
	for _, s := range srcs {
		out = append(out, s.Tool)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

var severityRank = map[string]int{"critical": 5, "high": 4, "medium": 3, "low": 2, "info": 1}

// worst is the highest severity any source gives.
func worst(srcs []*sourceRow) string {
	out := ""
	for _, s := range srcs {
		if out == "" || severityRank[s.Severity] > severityRank[out] {
			out = s.Severity
		}
	}
	return out
}

// reachabilityRank orders what tools say of reachability: a call found
// outweighs an import, an import a requirement.
var reachabilityRank = map[string]int{"called": 3, "imported": 2, "required": 1}

func strongest(srcs []*sourceRow) string {
	out := ""
	for _, s := range srcs {
		if reachabilityRank[s.Reachability] > reachabilityRank[out] {
			out = s.Reachability
		}
	}
	return out
}
