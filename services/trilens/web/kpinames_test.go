package web

import (
	"testing"

	"github.com/trilens/trilens/pkg/kpinames"
	"github.com/trilens/trilens/services/scorer/load"
	"github.com/trilens/trilens/services/scorer/sbom"
	"github.com/trilens/trilens/services/scorer/scorecard"
	"github.com/trilens/trilens/services/scorer/trace"
)

// TestEveryScoredKPIHasAName keeps the shared table in step with the
// scorer: a KPI the scorer writes without a name would show its identifier.
func TestEveryScoredKPIHasAName(t *testing.T) {
	for _, kpi := range []string{
		trace.KPIJourneyP95, trace.KPIJourneyP99, trace.KPIJourneyErrorRate, trace.KPIHopP95,
		sbom.KPISBOMUnpinned, sbom.KPISBOMDeniedLicences, sbom.KPISBOMSignedShare, sbom.KPISBOMProvenance, sbom.KPISBOMSLSALevel,
		load.KPILoadP95AtPeak, load.KPILoadMaxSustainableRPS, load.KPILoadHeadroom, load.KPILoadUtilisationAtPeak,
		load.KPILoadErrorRate, load.KPILoadThresholdsFailed, load.KPILoadGeneratorSat,
		load.KPIWebLCP, load.KPIWebINP, load.KPIWebTBT, load.KPIWebCLS, load.KPIWebTTFB, load.KPIWebScore,
		scorecard.KPISecNewCritical, scorecard.KPISecCriticalOverAge, scorecard.KPISecHighOverAge, scorecard.KPISecSecrets,
		scorecard.KPISecOpenFindings, scorecard.KPISLOBudgetRemaining, scorecard.KPISLOBurnRatePrefix + "1h",
	} {
		if _, ok := kpinames.Lookup(kpi); !ok {
			t.Errorf("%s has no name in pkg/kpinames", kpi)
		}
	}
}
