package evidence

import eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"

// RowCount is the number of ClickHouse rows an event adds, so batches are
// cut by rows, not messages: one event may carry thousands of findings.
func RowCount(ev *eventv1.Event) int {
	n := 1 // evidence_log
	switch p := ev.GetPayload().(type) {
	case *eventv1.Event_Scan:
		n += 2 * len(p.Scan.GetFindings())
	case *eventv1.Event_Sbom:
		n += len(p.Sbom.GetComponents())
	case *eventv1.Event_TraceWindows:
		for _, w := range p.TraceWindows.GetWindows() {
			n += 1 + len(w.GetHops())
		}
	case *eventv1.Event_TraceDetections:
		n += len(p.TraceDetections.GetDetections())
	case *eventv1.Event_LoadRun:
		n += len(p.LoadRun.GetScenarios()) + len(p.LoadRun.GetSteps())
	case *eventv1.Event_Changes:
		n += len(p.Changes.GetChanges())
	default:
		n++
	}
	return n
}
