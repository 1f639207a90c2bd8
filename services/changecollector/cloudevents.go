package changecollector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	changev1 "github.com/trilens/trilens/proto/trilens/change/v1"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

const cdEventsPrefix = "dev.cdevents."

// cdEvent holds the parts of a CDEvent (spec 0.3 to 0.5) a change needs;
// the data of a CloudEvent whose type is dev.cdevents.*.
type cdEvent struct {
	Context struct {
		ID        string    `json:"id"`
		Source    string    `json:"source"`
		Type      string    `json:"type"`
		Timestamp time.Time `json:"timestamp"`
	} `json:"context"`
	Subject struct {
		ID      string `json:"id"`
		Source  string `json:"source"`
		Content struct {
			Environment  cdRef  `json:"environment"`
			Service      cdRef  `json:"service"`
			ArtifactID   string `json:"artifactId"`
			Description  string `json:"description"`
			PipelineName string `json:"pipelineName"`
			URI          string `json:"uri"`
			URL          string `json:"url"`
			Outcome      string `json:"outcome"`
		} `json:"content"`
	} `json:"subject"`
}

type cdRef struct {
	ID     string `json:"id"`
	Source string `json:"source"`
}

// decodeCloudEvent reads a CloudEvent in binary mode (ce-* headers, the
// CDEvent as the body) or structured mode (application/cloudevents+json,
// or a JSON body with specversion).
func decodeCloudEvent(h http.Header, body []byte) (*Decoded, error) {
	ev, err := readCloudEvent(h, body)
	if err != nil {
		return nil, err
	}
	d := &Decoded{Event: ev.Type()}
	if !strings.HasPrefix(ev.Type(), cdEventsPrefix) {
		return nil, fmt.Errorf("CloudEvents type %q is not a CDEvent: want dev.cdevents.*", ev.Type())
	}
	subject, predicate := cdEventKind(ev.Type())
	typ, status, ok := cdEventChange(subject, predicate)
	if !ok {
		d.Ignored = fmt.Sprintf("CDEvent %s.%s is no change: want service.deployed/upgraded/rolledback, pipelinerun.*, incident.*", subject, predicate)
		return d, nil
	}
	var cd cdEvent
	if err := json.Unmarshal(ev.Data(), &cd); err != nil {
		return nil, fmt.Errorf("CDEvent data: %v", err)
	}
	c := cd.Subject.Content
	at := cd.Context.Timestamp
	if at.IsZero() {
		at = ev.Time()
	}
	source := or(cd.Context.Source, ev.Source())
	ch := &changev1.Change{
		Type:        typ,
		Status:      status,
		Source:      FormatCloudEvents,
		SourceEvent: ev.Type(),
		Environment: c.Environment.ID,
		Artifact:    c.ArtifactID,
		Url:         or(c.URI, c.URL),
	}
	ch.ArtifactDigest = purlDigest(c.ArtifactID)
	subj := &eventv1.Subject{}
	switch typ {
	case changev1.ChangeType_CHANGE_TYPE_DEPLOY, changev1.ChangeType_CHANGE_TYPE_ROLLBACK:
		// Each service event is one deploy: its own id identifies it; the subject is the service.
		ch.Id = "cdevents:" + source + ":" + or(cd.Context.ID, ev.ID())
		ch.FinishedUnixNano = nanos(at)
		subj.Service = cd.Subject.ID
		ch.Title = fmt.Sprintf("%s %s to %s", predicate, or(c.ArtifactID, cd.Subject.ID), or(c.Environment.ID, "?"))
	case changev1.ChangeType_CHANGE_TYPE_CI_RUN:
		ch.Id = "cdevents:" + source + ":pipelinerun:" + cd.Subject.ID
		ch.Pipeline = c.PipelineName
		ch.Title = or(c.PipelineName, cd.Subject.ID)
		if predicate == "finished" {
			ch.Status = cdOutcome(c.Outcome)
			ch.FinishedUnixNano = nanos(at)
		} else {
			ch.StartedUnixNano = nanos(at)
		}
		subj.PipelineRun = cd.Subject.ID
	case changev1.ChangeType_CHANGE_TYPE_INCIDENT:
		// detected/reported and resolved of one incident share its subject id.
		ch.Id = "cdevents:" + source + ":incident:" + cd.Subject.ID
		ch.Title = or(c.Description, cd.Subject.ID)
		subj.Service = c.Service.ID
		if status == StatusResolved {
			ch.FinishedUnixNano = nanos(at)
		} else {
			ch.StartedUnixNano = nanos(at)
		}
	}
	if cd.Subject.ID == "" {
		return nil, errors.New("CDEvent data: no subject.id")
	}
	d.Records = []Record{{Change: ch, Subject: subj}}
	return d, nil
}

func readCloudEvent(h http.Header, body []byte) (*event.Event, error) {
	msg := cehttp.NewMessage(h, io.NopCloser(bytes.NewReader(body)))
	defer msg.Finish(nil)
	if msg.ReadEncoding() != binding.EncodingUnknown {
		ev, err := binding.ToEvent(context.Background(), msg)
		if err != nil {
			return nil, fmt.Errorf("CloudEvent: %v", err)
		}
		return ev, ev.Validate()
	}
	// Structured mode sent as plain application/json.
	var ev event.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, fmt.Errorf("CloudEvent: %v", err)
	}
	return &ev, ev.Validate()
}

// cdEventKind splits dev.cdevents.<subject>.<predicate>.<version>.
func cdEventKind(t string) (subject, predicate string) {
	parts := strings.SplitN(strings.TrimPrefix(t, cdEventsPrefix), ".", 3)
	if len(parts) < 2 {
		return parts[0], ""
	}
	return parts[0], parts[1]
}

func cdEventChange(subject, predicate string) (changev1.ChangeType, string, bool) {
	switch subject + "." + predicate {
	case "service.deployed", "service.upgraded":
		return changev1.ChangeType_CHANGE_TYPE_DEPLOY, StatusSuccess, true
	case "service.rolledback":
		return changev1.ChangeType_CHANGE_TYPE_ROLLBACK, StatusSuccess, true
	case "pipelinerun.queued", "pipelinerun.started", "pipelinerun.finished":
		return changev1.ChangeType_CHANGE_TYPE_CI_RUN, StatusRunning, true
	case "incident.detected", "incident.reported":
		return changev1.ChangeType_CHANGE_TYPE_INCIDENT, StatusOpen, true
	case "incident.resolved":
		return changev1.ChangeType_CHANGE_TYPE_INCIDENT, StatusResolved, true
	}
	return 0, "", false
}

// cdOutcome maps a finished pipeline run's outcome (success, failure, error, cancel).
func cdOutcome(o string) string {
	switch o {
	case "success":
		return StatusSuccess
	case "cancel", "cancelled", "canceled":
		return StatusCancelled
	}
	return StatusFailure
}

// purlDigest is the digest a package URL's version carries
// (pkg:oci/app@sha256%3A0b31... gives sha256:0b31...), else "".
func purlDigest(purl string) string {
	_, version, ok := strings.Cut(purl, "@")
	if !ok {
		return ""
	}
	version, _, _ = strings.Cut(version, "?")
	version, _, _ = strings.Cut(version, "#")
	v, err := url.PathUnescape(version)
	if err != nil || !strings.HasPrefix(v, "sha256:") {
		return ""
	}
	return v
}
