package scorecard_test

import (
	"testing"

	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/services/scorer/scorecard"
)

// TestAssessWorkedExamples works the severity function by hand with the
// default weights (likelihood kev 1, epss 1, cvss 0.5, traffic 1, floor
// 0.05; tiers 3/2/1; internet 1.5, internal 1; degradation 0.1, min 1 day).
// The worst blast radius is 3 × 1.5 = 4.5.
func TestAssessWorkedExamples(t *testing.T) {
	w := policy.Default().Severity
	for _, tc := range []struct {
		name string
		in   scorecard.RiskInput
		want scorecard.Risk
	}{
		{
			// KEV on a tier-1 internet journey earning 10 000/h, open 10 days:
			// likelihood 1, blast 4.5/4.5 = 1, cost 10 000 × 24 × 0.1 × 10 = 240 000,
			// urgency 1 − ½e^(−1/3) = 0.6417.
			name: "kev tier 1 internet",
			in:   scorecard.RiskInput{KEV: true, EPSS: 0.3, Tier: 1, Exposure: "internet", RevenuePerHour: 10000, DaysOpen: 10},
			want: scorecard.Risk{Score: 64.2, Money: 240000, Likelihood: 1, BlastRadius: 1, CostOfDelay: 240000, DaysOpen: 10},
		},
		{
			// CVSS 9.8 without EPSS on an internal tier-3 service, new (counts 1 day):
			// likelihood 0.5 × 0.98 = 0.49, blast 1 × 1 / 4.5 = 0.2222,
			// cost 1000 × 24 × 0.1 × 1 = 2400, money 0.49 × 0.2222 × 2400 = 261.33,
			// urgency 1 − ½e^(−1/30) = 0.5164, score 100 × 0.49 × 0.2222 × 0.5164 = 5.6.
			name: "cvss tier 3 internal",
			in:   scorecard.RiskInput{CVSS: 9.8, Tier: 3, Exposure: "internal", RevenuePerHour: 1000},
			want: scorecard.Risk{Score: 5.6, Money: 261.33, Likelihood: 0.49, BlastRadius: 0.2222, CostOfDelay: 2400, DaysOpen: 0},
		},
		{
			// A p95 over budget hits at least 5 % of requests; 40 % over
			// budget degrades that share: tier 2 internet (blast 3/4.5),
			// 5000/h, 3 days: cost 5000 × 24 × 0.4 × 3 = 144 000,
			// money 0.05 × 0.6667 × 144 000 = 4800.
			name: "latency gap",
			in:   scorecard.RiskInput{TrafficShare: 0.05, Tier: 2, Exposure: "internet", RevenuePerHour: 5000, Degradation: 0.4, DaysOpen: 3},
			want: scorecard.Risk{Score: 1.8, Money: 4800, Likelihood: 0.05, BlastRadius: 0.6667, CostOfDelay: 144000, DaysOpen: 3},
		},
		{
			// Nothing known and no revenue: the floor likelihood, no money,
			// still a score so it is ranked.
			name: "floor",
			in:   scorecard.RiskInput{},
			want: scorecard.Risk{Score: 0.6, Money: 0, Likelihood: 0.05, BlastRadius: 0.2222, CostOfDelay: 0, DaysOpen: 0},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := scorecard.Assess(w, tc.in); got != tc.want {
				t.Errorf("Assess = %+v\nwant     %+v", got, tc.want)
			}
		})
	}
}

// TestAssessMonotone: each factor, raised alone, never lowers the score or the money.
func TestAssessMonotone(t *testing.T) {
	w := policy.Default().Severity
	base := scorecard.RiskInput{CVSS: 5, Tier: 2, Exposure: "internal", RevenuePerHour: 100, DaysOpen: 5}
	worse := []func(scorecard.RiskInput) scorecard.RiskInput{
		func(in scorecard.RiskInput) scorecard.RiskInput { in.KEV = true; return in },
		func(in scorecard.RiskInput) scorecard.RiskInput { in.Tier = 1; return in },
		func(in scorecard.RiskInput) scorecard.RiskInput { in.Exposure = "internet"; return in },
		func(in scorecard.RiskInput) scorecard.RiskInput { in.RevenuePerHour = 1000; return in },
		func(in scorecard.RiskInput) scorecard.RiskInput { in.DaysOpen = 50; return in },
	}
	b := scorecard.Assess(w, base)
	for i, f := range worse {
		r := scorecard.Assess(w, f(base))
		if r.Score < b.Score || r.Money < b.Money || r.Score == b.Score && r.Money == b.Money {
			t.Errorf("change %d: %+v is not worse than %+v", i, r, b)
		}
	}
}

// TestAssessReachability: govulncheck's symbol-level finding (a call
// reaches the vulnerable code) keeps its likelihood; a module- or
// import-only one is scaled by UnreachableFactor, never below the floor;
// a finding no tool says anything about is unchanged.
func TestAssessReachability(t *testing.T) {
	w := policy.Default().Severity
	base := scorecard.RiskInput{EPSS: 0.6, CVSS: 9.8, Tier: 1, Exposure: "internet", RevenuePerHour: 1000, DaysOpen: 3}
	reachable := scorecard.Assess(w, base)
	unreached := base
	unreached.Unreachable = true
	notReached := scorecard.Assess(w, unreached)
	if reachable.Likelihood != 0.6 {
		t.Fatalf("reachable likelihood %v, want the EPSS term 0.6", reachable.Likelihood)
	}
	if notReached.Likelihood != 0.12 { // 0.6 × 0.2
		t.Fatalf("unreachable likelihood %v, want 0.6 × %v = 0.12", notReached.Likelihood, scorecard.UnreachableFactor)
	}
	if notReached.Money >= reachable.Money || notReached.Score >= reachable.Score {
		t.Fatalf("unreachable %+v does not rank below reachable %+v", notReached, reachable)
	}
	low := scorecard.RiskInput{CVSS: 2, Unreachable: true} // 0.5 × 0.2 = 0.1 × 0.2 = 0.02 < floor 0.05
	if got := scorecard.Assess(w, low).Likelihood; got != w.Likelihood.Floor {
		t.Fatalf("unreachable low finding likelihood %v, want the floor %v", got, w.Likelihood.Floor)
	}
}
