// Package owners says who owns a gap and how far it reaches, from the
// policy: the team to page and the tier, exposure and revenue at stake.
package owners

import (
	"github.com/trilens/trilens/pkg/policy"
)

// Unowned is the owner of a gap no ownership rule, CODEOWNERS line or
// default team claims; the scorecard flags it.
const Unowned = "unowned"

// Of names the team that owns a gap, most specific first: the owner
// the evidence already carries, the file's owner (owners.rules paths, then
// CODEOWNERS), the journey's, the service's, then owners.default_team.
// The policy's lookups end in the default team; an empty answer is Unowned.
func Of(pol *policy.Policy, given, path, journey, service string) string {
	if given != "" && given != Unowned {
		return given
	}
	var o string
	if path != "" {
		o = pol.OwnerOfPath(path)
	}
	if o == "" && journey != "" {
		o = pol.OwnerOfJourney(journey)
	}
	if o == "" && service != "" {
		o = pol.OwnerOfService(service)
	}
	if o == "" {
		o = pol.Owners.DefaultTeam
	}
	if o == "" {
		return Unowned
	}
	return o
}

// Blast is what the policy says about the reach of a scope: the tier and
// revenue of the journey, else of the service (else the largest revenue of
// its journeys), and the service's exposure.
func Blast(pol *policy.Policy, journey, service string) (tier int, exposure string, revenue float64) {
	tier, exposure = 3, policy.ExposureInternal
	s, hasService := pol.Service(service)
	if hasService {
		tier, exposure, revenue = s.Tier, s.Exposure, s.RevenuePerHour
	}
	if j, ok := pol.Journey(journey); ok {
		if j.Tier > 0 {
			tier = j.Tier
		}
		if j.RevenuePerHour > 0 {
			revenue = j.RevenuePerHour
		}
		if !hasService {
			if js, ok := pol.Service(j.Service); ok {
				exposure = js.Exposure
			}
		}
		return tier, exposure, revenue
	}
	if revenue == 0 && service != "" {
		for _, j := range pol.Journeys {
			if j.Service == service {
				revenue = max(revenue, j.RevenuePerHour)
				if j.Tier > 0 && j.Tier < tier {
					tier = j.Tier
				}
			}
		}
	}
	return tier, exposure, revenue
}
