package scorer

import (
	"github.com/trilens/trilens/services/scorer/advisories"
	"github.com/trilens/trilens/services/scorer/api"
	"github.com/trilens/trilens/services/scorer/dora"
	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/load"
	"github.com/trilens/trilens/services/scorer/regression"
	"github.com/trilens/trilens/services/scorer/sbom"
	"github.com/trilens/trilens/services/scorer/scan"
	"github.com/trilens/trilens/services/scorer/scorecard"
	"github.com/trilens/trilens/services/scorer/trace"
)

// newProcessors lists every processor, in the order they run: the lenses,
// the KPIs the scorecard derives from them, the regression engine over
// every KPI point, DORA's deployed-unsigned gate, and the scorecard (with
// its API), which sweeps waivers. The advisories monitor matches stored
// SBOMs on the sweep and sends its findings back through the scan lens.
func newProcessors(set Settings) []evidence.Processor {
	return []evidence.Processor{
		trace.New(set),
		load.New(set),
		scan.New(set),
		sbom.New(set),
		advisories.New(set),
		scorecard.NewSecurityKPIs(set),
		scorecard.NewSLOKPIs(set),
		regression.New(set),
		dora.New(set),
		api.New(scorecard.New(set), set.Logger),
	}
}
