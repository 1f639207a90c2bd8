package bus

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream names.
const (
	StreamEvidence   = "EVIDENCE"
	StreamVerdicts   = "VERDICTS"
	StreamDeadLetter = "DEADLETTER"
	// DocumentBucket is the object store bucket of whole documents by sha256.
	DocumentBucket = "trilens-documents"
)

// DeadLetterSubject is where messages a consumer gives up on go, with the reason in headers.
func DeadLetterSubject(consumer string) string { return "trilens.deadletter.v1." + consumer }

// Streams declares every stream Trilens uses; Provision creates or updates them.
func (c Config) Streams() []jetstream.StreamConfig {
	return []jetstream.StreamConfig{{
		Name:        StreamEvidence,
		Description: "evidence from the collectors, scored by the scorer",
		Subjects:    []string{"trilens.v1.*.evidence.>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		MaxAge:      c.EvidenceMaxAge,
		MaxBytes:    c.EvidenceMaxBytes,
		Duplicates:  c.DuplicateWindow,
		Replicas:    c.Replicas,
		Placement:   c.placement(),
	}, {
		Name:        StreamVerdicts,
		Description: "verdicts of the scorer, read by the alerter and the gate",
		Subjects:    []string{"trilens.v1.*.verdicts"},
		Storage:     jetstream.FileStorage,
		MaxAge:      30 * 24 * time.Hour,
		Duplicates:  c.DuplicateWindow,
		Replicas:    c.Replicas,
		Placement:   c.placement(),
	}, {
		Name:        StreamDeadLetter,
		Description: "messages a consumer could not decode or kept failing on, with the reason",
		Subjects:    []string{DeadLetterSubject(">")},
		Storage:     jetstream.FileStorage,
		MaxAge:      30 * 24 * time.Hour,
		Duplicates:  c.DuplicateWindow,
		Replicas:    c.Replicas,
		Placement:   c.placement(),
	}}
}
