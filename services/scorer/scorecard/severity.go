package scorecard

import (
	"math"

	"github.com/trilens/trilens/pkg/policy"
)

// RiskInput is what the severity function needs to know about one gap: a
// finding or a KPI over budget. Leave unknown fields zero.
type RiskInput struct {
	// Exploitability (security findings).
	KEV  bool
	EPSS float64 // probability of exploitation in 30 days, 0-1
	CVSS float64 // base score, 0-10
	// Unreachable is set when a tool that follows calls found none into
	// the vulnerable code (govulncheck finding only the import or the
	// module requirement); leave it false when no tool says.
	Unreachable bool
	// TrafficShare is the share of requests a performance or capacity gap
	// hits, 0-1.
	TrafficShare float64

	// Blast radius: the tier (1-3) of the journey or service and its exposure.
	Tier     int
	Exposure string

	// Cost of delay: revenue per hour of the journey or service (0: the
	// policy's cost_of_delay.revenue_per_hour), the share of that revenue
	// at risk while the gap stays open (0: the policy's degradation), and
	// how many days it has been open.
	RevenuePerHour float64
	Degradation    float64
	DaysOpen       float64
}

// Risk is the severity of one gap.
type Risk struct {
	// Score ranks gaps, 0-100.
	Score float64 `json:"score"`
	// Money is the expected loss in the policy's currency.
	Money float64 `json:"money"`
	// The three factors, for the reader who wants to know why.
	Likelihood  float64 `json:"likelihood"`   // 0-1
	BlastRadius float64 `json:"blast_radius"` // 0-1 (share of the worst tier × exposure)
	CostOfDelay float64 `json:"cost_of_delay"`
	DaysOpen    float64 `json:"days_open"`
}

// UnreachableFactor scales the likelihood of a vulnerability whose code no
// call reaches: it is exploitable only once a change starts calling it, so
// it ranks below the same vulnerability called today.
const UnreachableFactor = 0.2

// Assess is the one severity function of Trilens:
//
//	likelihood   = the largest term that applies, capped at 1:
//	               KEV listed            → w.likelihood.kev
//	               EPSS known            → w.likelihood.epss × EPSS
//	               CVSS known, no EPSS   → w.likelihood.cvss × CVSS / 10
//	               traffic share known   → w.likelihood.traffic × share
//	               always                → w.likelihood.floor
//	               then, when no call reaches the vulnerable code, that
//	               term × UnreachableFactor, never below the floor
//	blast radius = tier weight × exposure weight, divided by the largest
//	               tier weight × the largest exposure weight (0-1]
//	days         = max(days open, w.cost_of_delay.min_days)
//	cost of delay = revenue per hour × 24 × degradation × days
//	money        = likelihood × blast radius × cost of delay
//	score        = 100 × likelihood × blast radius × urgency,
//	               urgency = 1 − ½·e^(−days/30): ½ on the first day, ⅞ after two months
//
// Money orders the scorecard; the score orders gaps that cost nothing
// because the policy gives their scope no revenue. Both grow with each of
// the three factors, so a KEV-listed finding on an internet-facing tier-1
// journey outranks the same finding on an internal tier-3 service.
func Assess(w policy.Severity, in RiskInput) Risk {
	l := w.Likelihood
	like := l.Floor
	if in.KEV {
		like = max(like, l.KEV)
	}
	if in.EPSS > 0 {
		like = max(like, l.EPSS*in.EPSS)
	} else if in.CVSS > 0 {
		like = max(like, l.CVSS*in.CVSS/10)
	}
	if in.TrafficShare > 0 {
		like = max(like, l.Traffic*in.TrafficShare)
	}
	if in.Unreachable {
		like = max(l.Floor, like*UnreachableFactor)
	}
	like = clamp01(like)

	b := w.BlastRadius
	worst := max(b.Tier1, b.Tier2, b.Tier3) * max(b.Internet, b.Internal)
	blast := 0.0
	if worst > 0 {
		blast = clamp01(b.Tier(in.Tier) * b.Exposure(in.Exposure) / worst)
	}

	c := w.CostOfDelay
	days := max(in.DaysOpen, c.MinDays, 0)
	revenue := in.RevenuePerHour
	if revenue <= 0 {
		revenue = c.RevenuePerHour
	}
	degradation := in.Degradation
	if degradation <= 0 {
		degradation = c.Degradation
	}
	cost := revenue * 24 * clamp01(degradation) * days

	urgency := 1 - 0.5*math.Exp(-days/30)
	return Risk{
		Score:       round(100*like*blast*urgency, 1),
		Money:       round(like*blast*cost, 2),
		Likelihood:  round(like, 4),
		BlastRadius: round(blast, 4),
		CostOfDelay: round(cost, 2),
		DaysOpen:    round(max(in.DaysOpen, 0), 2),
	}
}

func clamp01(x float64) float64 { return min(max(x, 0), 1) }

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}
