package scorer

import (
	"context"

	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

// Processor derives state from evidence once its rows are stored: finding
// lifecycle, KPI points, verdicts. It runs after a batch's rows are inserted
// and before its messages are acked, so a crash replays it: it must be
// idempotent. A Processor that also has Register(server.Router) serves its
// part of the scorer's API.
type Processor interface {
	Name() string
	Process(ctx context.Context, evs []*eventv1.Event) error
}

// newProcessors lists every processor, in the order they run.
func newProcessors(set Settings) []Processor {
	return []Processor{
		newTraceKPIs(set),
		newLoadKPIs(set),
		newScanLifecycle(set),
		newSBOMChecks(set),
		newSecurityKPIs(set),
		newSLOKPIs(set),
		newRegressions(set),
		newScorecard(set),
	}
}
