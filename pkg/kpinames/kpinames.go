// Package kpinames is the one table of KPI display names and units that the
// CLI, the built-in page and the Grafana dashboards generator share, so a
// KPI reads the same everywhere ("Journey p95 latency", not
// "journey_p95_ms"). The scorer keeps the identifiers; this package only
// says how to show them.
package kpinames

import (
	"sort"
	"strings"
)

// KPI is how one KPI identifier is shown.
type KPI struct {
	// Name is the human name, in sentence case.
	Name string
	// Unit is the value's unit: "ms", "ratio" (0..1, shown as a percentage),
	// "count", "rps", "level", "score" or "" for a plain number.
	Unit string
}

// table is keyed by the scorer's KPI identifiers.
var table = map[string]KPI{
	"journey_p95_ms":     {"Journey p95 latency", "ms"},
	"journey_p99_ms":     {"Journey p99 latency", "ms"},
	"journey_error_rate": {"Journey error rate", "ratio"},
	"hop_p95_ms":         {"Hop p95 latency", "ms"},

	"sbom_unpinned_dependencies":           {"Unpinned dependencies", "count"},
	"sbom_denied_licences":                 {"Dependencies under a denied licence", "count"},
	"sbom_artifacts_signed_verified_share": {"Artifacts signed and verified", "ratio"},
	"sbom_artifacts_provenance_share":      {"Artifacts with provenance", "ratio"},
	"sbom_slsa_level":                      {"SLSA level", "level"},

	"load_p95_at_peak_ms":        {"p95 latency at peak load", "ms"},
	"load_max_sustainable_rps":   {"Highest sustainable throughput", "rps"},
	"load_headroom":              {"Capacity headroom over peak", "ratio"},
	"load_utilisation_at_peak":   {"Utilisation at peak load", "ratio"},
	"load_error_rate":            {"Error rate under load", "ratio"},
	"load_thresholds_failed":     {"Load-test thresholds failed", "count"},
	"load_generator_saturated":   {"Load generator saturated", "count"},
	"web_lcp_ms":                 {"Largest Contentful Paint", "ms"},
	"web_inp_ms":                 {"Interaction to Next Paint", "ms"},
	"web_tbt_ms":                 {"Total Blocking Time", "ms"},
	"web_cls":                    {"Cumulative Layout Shift", ""},
	"web_ttfb_ms":                {"Time to first byte", "ms"},
	"web_performance_score":      {"Lighthouse performance score", "score"},
	"security_new_critical":      {"New critical findings", "count"},
	"security_critical_over_age": {"Critical findings past their deadline", "count"},
	"security_high_over_age":     {"High findings past their deadline", "count"},
	"security_secrets":           {"Leaked secrets", "count"},
	"security_open_findings":     {"Open findings", "count"},

	"slo_error_budget_remaining": {"SLO error budget remaining", "ratio"},
}

// burnRatePrefix + a window ("slo_burn_rate_1h") is one KPI per window.
const burnRatePrefix = "slo_burn_rate_"

// Lookup returns how kpi is shown and whether the table knows it.
func Lookup(kpi string) (KPI, bool) {
	if k, ok := table[kpi]; ok {
		return k, true
	}
	if w, ok := strings.CutPrefix(kpi, burnRatePrefix); ok && w != "" {
		return KPI{Name: "SLO burn rate over " + w, Unit: "×"}, true
	}
	return KPI{}, false
}

// Name is kpi's human name; an identifier the table does not know is shown
// with its underscores as spaces, so a new KPI is readable before it is named.
func Name(kpi string) string {
	if k, ok := Lookup(kpi); ok {
		return k.Name
	}
	s := strings.ReplaceAll(kpi, "_", " ")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Unit is kpi's unit, "" when unknown.
func Unit(kpi string) string {
	k, _ := Lookup(kpi)
	return k.Unit
}

// All lists the table's identifiers in order, for generators that map
// every known identifier (such as Grafana value mappings).
func All() []string {
	out := make([]string, 0, len(table))
	for k := range table {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
