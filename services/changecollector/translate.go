package changecollector

import (
	"strings"
	"time"

	"github.com/trilens/trilens/pkg/events"
	changev1 "github.com/trilens/trilens/proto/trilens/change/v1"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

// Record is one decoded change and what its payload says about its subject.
type Record struct {
	Change  *changev1.Change
	Subject *eventv1.Subject
}

// Statuses of runs, deploys and rollbacks, and of incidents.
const (
	StatusRunning   = "running"
	StatusSuccess   = "success"
	StatusFailure   = "failure"
	StatusCancelled = "cancelled"
	StatusSkipped   = "skipped"
	StatusOpen      = "open"
	StatusResolved  = "resolved"
)

// ValidStatus tells whether status fits a change of type t.
func ValidStatus(t changev1.ChangeType, status string) bool {
	if t == changev1.ChangeType_CHANGE_TYPE_INCIDENT {
		return status == StatusOpen || status == StatusResolved
	}
	switch status {
	case StatusRunning, StatusSuccess, StatusFailure, StatusCancelled, StatusSkipped:
		return true
	}
	return false
}

// MergeSubject is the subject of one change: what the request named (query
// or X-Trilens-* headers) wins, the payload fills the rest. The environment
// class comes from the change's environment name when the request gave none,
// and CI runs without one are in CI.
func MergeSubject(req, payload *eventv1.Subject, ch *changev1.Change) *eventv1.Subject {
	out := &eventv1.Subject{
		Repository:  or(req.GetRepository(), payload.GetRepository()),
		Commit:      or(req.GetCommit(), payload.GetCommit()),
		Branch:      or(req.GetBranch(), payload.GetBranch()),
		BaseBranch:  or(req.GetBaseBranch(), payload.GetBaseBranch()),
		PipelineRun: or(req.GetPipelineRun(), payload.GetPipelineRun()),
		Service:     or(req.GetService(), payload.GetService()),
		Journey:     or(req.GetJourney(), payload.GetJourney()),
		Release:     or(req.GetRelease(), payload.GetRelease()),
		Environment: req.GetEnvironment(),
	}
	if out.Environment == eventv1.Environment_ENVIRONMENT_UNSPECIFIED {
		out.Environment = payload.GetEnvironment()
	}
	if out.Environment == eventv1.Environment_ENVIRONMENT_UNSPECIFIED {
		out.Environment = EnvironmentClass(ch.GetEnvironment())
	}
	if out.Environment == eventv1.Environment_ENVIRONMENT_UNSPECIFIED && ch.GetType() == changev1.ChangeType_CHANGE_TYPE_CI_RUN {
		out.Environment = eventv1.Environment_ENVIRONMENT_CI
	}
	return out
}

// EnvironmentClass maps an environment name to its class: production, prod,
// prd and live (alone or before a non-letter: prod-eu, prod1) are production;
// staging, stage, stg, preprod and uat are staging; anything else
// (github-pages, review/x, dev) is left unspecified for ?env= to decide.
func EnvironmentClass(name string) eventv1.Environment {
	n := strings.ToLower(strings.TrimSpace(name))
	if i := strings.IndexFunc(n, func(r rune) bool { return r < 'a' || r > 'z' }); i >= 0 {
		n = n[:i]
	}
	switch n {
	case "production", "prod", "prd", "live":
		return eventv1.Environment_ENVIRONMENT_PRODUCTION
	case "staging", "stage", "stg", "preprod", "uat":
		return eventv1.Environment_ENVIRONMENT_STAGING
	}
	return eventv1.Environment_ENVIRONMENT_UNSPECIFIED
}

// EventID identifies one state of one change: the same delivery sent twice
// gets the same id (JetStream and ClickHouse drop the copy), while the
// states of one change's lifecycle (running, then success) are distinct events.
func EventID(tenant string, ch *changev1.Change, s *eventv1.Subject) string {
	return events.ID(tenant, "change", ch.GetSource(), ch.GetId(), ch.GetType().String(), ch.GetStatus(),
		s.GetRepository(), s.GetCommit(), s.GetBranch(), s.GetPipelineRun(), s.GetService(),
		s.GetEnvironment().String(), s.GetJourney(), s.GetRelease())
}

// Observed is when the change happened: its end, else its start, else now.
func Observed(ch *changev1.Change, now time.Time) time.Time {
	switch {
	case ch.GetFinishedUnixNano() > 0:
		return time.Unix(0, ch.GetFinishedUnixNano()).UTC()
	case ch.GetStartedUnixNano() > 0:
		return time.Unix(0, ch.GetStartedUnixNano()).UTC()
	}
	return now
}

// Events makes one event per change, each with its own subject.
// envelope builds an event's envelope from its id, producer, subject and time.
func Events(recs []Record, tenant string, req *eventv1.Subject, now time.Time,
	envelope func(id string, p *eventv1.Producer, s *eventv1.Subject, observed time.Time) *eventv1.Envelope) []*eventv1.Event {
	out := make([]*eventv1.Event, 0, len(recs))
	for _, r := range recs {
		subj := MergeSubject(req, r.Subject, r.Change)
		env := envelope(EventID(tenant, r.Change, subj), &eventv1.Producer{Collector: "changecollector", Tool: r.Change.GetSource()},
			subj, Observed(r.Change, now))
		out = append(out, &eventv1.Event{Envelope: env,
			Payload: &eventv1.Event_Changes{Changes: &changev1.ChangeBatch{Changes: []*changev1.Change{r.Change}}}})
	}
	return out
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// nanos is t in Unix nanoseconds, 0 for the zero time (absent, not 1970).
func nanos(t time.Time) int64 {
	if t.IsZero() || t.Unix() <= 0 {
		return 0
	}
	return t.UnixNano()
}
