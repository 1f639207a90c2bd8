package kpinames

import "testing"

func TestNames(t *testing.T) {
	for _, c := range []struct{ kpi, name, unit string }{
		{"load_utilisation_at_peak", "Utilisation at peak load", "ratio"},
		{"journey_p95_ms", "Journey p95 latency", "ms"},
		{"slo_burn_rate_1h", "SLO burn rate over 1h", "×"},
		{"brand_new_kpi", "Brand new kpi", ""},
	} {
		if got := Name(c.kpi); got != c.name {
			t.Errorf("Name(%q) = %q, want %q", c.kpi, got, c.name)
		}
		if got := Unit(c.kpi); got != c.unit {
			t.Errorf("Unit(%q) = %q, want %q", c.kpi, got, c.unit)
		}
	}
	seen := map[string]string{}
	for _, id := range All() {
		n := Name(id)
		if other, dup := seen[n]; dup {
			t.Errorf("%s and %s share the name %q", id, other, n)
		}
		seen[n] = id
	}
}
