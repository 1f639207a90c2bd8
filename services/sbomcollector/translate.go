package sbomcollector

import (
	"strconv"

	"github.com/trilens/trilens/pkg/events"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	sbomv1 "github.com/trilens/trilens/proto/trilens/sbom/v1"
)

// Producer names this collector in envelopes.
const Producer = "sbomcollector"

// SBOMReportID identifies one submission of one SBOM document about one
// subject: the same document for another commit is another report.
func SBOMReportID(tenant string, subj *eventv1.Subject, artifactName, docSHA256 string) string {
	return events.ID(tenant, "sbom", artifactName, subj.GetRepository(), subj.GetCommit(), subj.GetPipelineRun(), docSHA256)
}

// SBOMBatches splits a document's components into ComponentBatch payloads of
// at most max components. An SBOM without components still yields one batch,
// so the artifact is known to be empty.
func SBOMBatches(doc *Document, name, digest string, max int) []*sbomv1.ComponentBatch {
	var out []*sbomv1.ComponentBatch
	comps := doc.Components
	for first := true; first || len(comps) > 0; first = false {
		n := min(max, len(comps))
		out = append(out, &sbomv1.ComponentBatch{
			ArtifactName:    name,
			ArtifactDigest:  digest,
			Format:          doc.Format,
			SpecVersion:     doc.SpecVersion,
			LockfilePresent: doc.LockfilePresent,
			Components:      comps[:n:n],
		})
		comps = comps[n:]
	}
	return out
}

// SBOMEvents wraps batches in events carrying the report's parts and the
// document's claim check; ids are deterministic.
func SBOMEvents(env func(id string) *eventv1.Envelope, tenant, reportID string, doc *eventv1.DocumentRef, batches []*sbomv1.ComponentBatch) []*eventv1.Event {
	evs := make([]*eventv1.Event, len(batches))
	for i, b := range batches {
		e := env(events.ID(tenant, "sbom", reportID, strconv.Itoa(i)))
		e.Document = doc
		e.Part = &eventv1.Part{ReportId: reportID, Index: uint32(i), Count: uint32(len(batches))}
		evs[i] = &eventv1.Event{Envelope: e, Payload: &eventv1.Event_Sbom{Sbom: b}}
	}
	return evs
}
