package scancollector

import (
	"google.golang.org/protobuf/proto"
	"strconv"

	"github.com/trilens/trilens/pkg/events"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	scanv1 "github.com/trilens/trilens/proto/trilens/scan/v1"
)

// ReportID identifies a report: the same document about the same subject is
// the same report, so a re-submission yields the same events and changes nothing.
func ReportID(tenant, docSHA256 string, s *eventv1.Subject) string {
	return events.ID(tenant, "scan-report", docSHA256, s.GetRepository(), s.GetCommit(), s.GetBranch(),
		s.GetPipelineRun(), s.GetService(), s.GetEnvironment().String(), s.GetJourney(), s.GetRelease())
}

// Events splits a report into scan events of at most partSize findings each.
// Every run yields at least one event, even with no findings: an empty
// complete report is what tells the scorer its findings are fixed.
// envelope builds each event's envelope from its id and producer; Events
// sets the part.
func Events(rep *Report, tenant, reportID string, partSize int, envelope func(id string, p *eventv1.Producer) *eventv1.Envelope) []*eventv1.Event {
	var out []*eventv1.Event
	for _, run := range rep.Runs {
		fs := run.Findings
		for first := true; first || len(fs) > 0; first = false {
			n := partLen(fs, partSize)
			idx := len(out)
			env := envelope(events.ID(tenant, "scan", reportID, strconv.Itoa(idx)),
				&eventv1.Producer{Collector: "scancollector", Tool: run.Tool, ToolVersion: run.ToolVersion})
			env.Part = &eventv1.Part{ReportId: reportID, Index: uint32(idx)}
			out = append(out, &eventv1.Event{
				Envelope: env,
				Payload: &eventv1.Event_Scan{Scan: &scanv1.FindingBatch{
					Tool: run.Tool, ToolVersion: run.ToolVersion, Format: rep.Format, Findings: fs[:n],
					Scope: run.Scope, RunFailed: run.Failed, RunError: run.Error,
				}},
			})
			fs = fs[n:]
		}
	}
	for _, ev := range out {
		ev.Envelope.Part.Count = uint32(len(out))
	}
	return out
}

// maxPartBytes keeps an event well under NATS's 1 MiB default payload,
// whatever the findings' message lengths.
const maxPartBytes = 512 << 10

// partLen is how many of fs go into the next part: at most partSize, and
// no more than fit in maxPartBytes (at least one).
func partLen(fs []*scanv1.Finding, partSize int) int {
	n, size := 0, 0
	for n < len(fs) && n < partSize {
		size += proto.Size(fs[n]) + 4
		if n > 0 && size > maxPartBytes {
			break
		}
		n++
	}
	return n
}
