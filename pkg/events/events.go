// Package events names subjects and builds envelopes: the conventions every
// producer and consumer of Trilens evidence shares.
package events

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"

	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// SchemaVersion is the envelope schema version producers write today.
const SchemaVersion = 1

// MessageType is the full protobuf name of the one message on evidence and
// verdict subjects; it travels in the HeaderType header.
const MessageType = "trilens.event.v1.Event"

// Headers every message carries besides Nats-Msg-Id.
const (
	HeaderType        = "Trilens-Type"
	HeaderTraceparent = "traceparent"
)

var tenantRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidateTenant checks that a tenant can be used as a NATS subject token.
func ValidateTenant(tenant string) error {
	if !tenantRE.MatchString(tenant) {
		return fmt.Errorf("tenant %q: want 1-63 characters of a-z, 0-9, '_' or '-', starting with a letter or digit", tenant)
	}
	return nil
}

// KindName is the subject token of a kind: KIND_TRACE_WINDOW -> "trace_window".
func KindName(k eventv1.Kind) string {
	return strings.ToLower(strings.TrimPrefix(k.String(), "KIND_"))
}

// EvidenceSubject is the subject evidence of a kind is published on.
func EvidenceSubject(tenant string, k eventv1.Kind) string {
	return "trilens.v1." + tenant + ".evidence." + KindName(k)
}

// VerdictSubject is the subject verdicts are published on.
func VerdictSubject(tenant string) string {
	return "trilens.v1." + tenant + ".verdicts"
}

// Subject is where an event belongs: verdicts on the verdict subject, all
// else on the evidence subject of its kind.
func Subject(ev *eventv1.Event) string {
	env := ev.GetEnvelope()
	if env.GetKind() == eventv1.Kind_KIND_VERDICT {
		return VerdictSubject(env.GetTenant())
	}
	return EvidenceSubject(env.GetTenant(), env.GetKind())
}

// ID derives a deterministic event id from the parts that identify a piece of
// evidence (tenant, kind, report id, part, ...): the same evidence submitted
// twice gets the same id, so JetStream and ClickHouse drop the copy.
func ID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// NewEnvelope fills the fields every producer sets the same way.
func NewEnvelope(id, tenant string, kind eventv1.Kind, producer *eventv1.Producer, subject *eventv1.Subject, observed time.Time) *eventv1.Envelope {
	return &eventv1.Envelope{
		EventId:       id,
		Tenant:        tenant,
		Kind:          kind,
		SchemaVersion: SchemaVersion,
		Producer:      producer,
		Subject:       subject,
		ObservedAt:    timestamppb.New(observed),
		ReceivedAt:    timestamppb.Now(),
	}
}

// Validate reports what makes an event unfit to publish.
func Validate(ev *eventv1.Event) error {
	env := ev.GetEnvelope()
	switch {
	case env == nil:
		return fmt.Errorf("event has no envelope")
	case env.GetEventId() == "":
		return fmt.Errorf("envelope.event_id is empty")
	case env.GetKind() == eventv1.Kind_KIND_UNSPECIFIED:
		return fmt.Errorf("envelope.kind is unspecified")
	case ev.GetPayload() == nil:
		return fmt.Errorf("event %s has no payload", env.GetEventId())
	}
	return ValidateTenant(env.GetTenant())
}
