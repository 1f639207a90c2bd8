package regression

import (
	"strings"
	"testing"
)

// TestVerdictTextsWithConstantBaselines: a constant baseline has no spread
// to divide by and a zero one no percentage to quote; the verdict says so
// in words instead of "t = 117499826203202656.00, p = 0" or "+Inf% worse".
func TestVerdictTextsWithConstantBaselines(t *testing.T) {
	// 0.1 summed ten times is not exactly 1: the SD comes out as rounding noise.
	constant := []float64{0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}
	zero := []float64{0, 0, 0, 0, 0, 0}
	noisy := []float64{100, 104, 98, 101, 99, 102, 97, 103}
	if _, sd := meanSD(constant); sd == 0 {
		t.Fatal("the constant baseline has no rounding noise: the test would not exercise it")
	}
	for _, c := range []struct {
		name      string
		value     float64
		baseline  []float64
		want      string
		regressed bool
	}{
		{"constant", 0.2, constant, "checkout load_error_rate: 0.2 is 100% worse than its constant baseline 0.1 (10 points on main)", true},
		{"zero", 3, zero, "checkout load_error_rate: 3 is worse than its constant baseline 0 (6 points on main)", true},
		{"noisy", 130, noisy, "checkout load_error_rate: 130 is 29% worse than the baseline mean 100.5 (sd 2.45 over 8 points on main; t = 11.35, p = 4.6e-06)", true},
	} {
		j, ok := judgeKPI(c.value, c.baseline, true, 5, 0.1, 0.95)
		if !ok || j.Regressed != c.regressed {
			t.Fatalf("%s: judged %+v, %v", c.name, j, ok)
		}
		got := regressionSummary("checkout", "load_error_rate", c.value, j, "main")
		if !strings.HasPrefix(got, c.want) {
			t.Errorf("%s:\n got %s\nwant %s…", c.name, got, c.want)
		}
		for _, bad := range []string{"Inf", "NaN", "e+"} {
			if strings.Contains(got, bad) {
				t.Errorf("%s: %q holds %q", c.name, got, bad)
			}
		}
	}
	if got := shiftSummary("checkout", "journey_error_rate", 2e12, 4, 0, 0.02, 0.001); got !=
		"checkout journey_error_rate shifted worse 4 points ago: mean 0 before, 0.02 since (Welch p = 0.001)" {
		t.Errorf("shift from zero: %s", got)
	}
	if got := shiftSummary("checkout", "journey_p95_ms", 0.25, 4, 200, 250, 0.001); !strings.Contains(got, "shifted 25% worse") {
		t.Errorf("shift: %s", got)
	}
}
