package changecollector

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	changev1 "github.com/trilens/trilens/proto/trilens/change/v1"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

// GenericChange is the collector's own JSON shape of one change (see
// README.md): for tools with no webhook of their own, scripts, and incident
// tools that open and resolve.
type GenericChange struct {
	ID             string          `json:"id"`
	Type           string          `json:"type"`
	Status         string          `json:"status"`
	StartedAt      string          `json:"started_at,omitempty"` // RFC 3339
	FinishedAt     string          `json:"finished_at,omitempty"`
	URL            string          `json:"url,omitempty"`
	Title          string          `json:"title,omitempty"`
	Source         string          `json:"source,omitempty"`
	Repository     string          `json:"repository,omitempty"`
	Commit         string          `json:"commit,omitempty"`
	Branch         string          `json:"branch,omitempty"`
	Service        string          `json:"service,omitempty"`
	Environment    string          `json:"environment,omitempty"`
	Pipeline       string          `json:"pipeline,omitempty"`
	Artifact       string          `json:"artifact,omitempty"`
	ArtifactDigest string          `json:"artifact_digest,omitempty"`
	Commits        []GenericCommit `json:"commits,omitempty"`
	RollbackOf     string          `json:"rollback_of,omitempty"`
	Severity       string          `json:"severity,omitempty"`
}

// GenericCommit is a commit a change carries.
type GenericCommit struct {
	SHA         string `json:"sha"`
	CommittedAt string `json:"committed_at,omitempty"` // RFC 3339
}

// GenericBatch is several changes in one request.
type GenericBatch struct {
	Changes []GenericChange `json:"changes"`
}

var genericTypes = map[string]changev1.ChangeType{
	"ci_run":   changev1.ChangeType_CHANGE_TYPE_CI_RUN,
	"deploy":   changev1.ChangeType_CHANGE_TYPE_DEPLOY,
	"rollback": changev1.ChangeType_CHANGE_TYPE_ROLLBACK,
	"incident": changev1.ChangeType_CHANGE_TYPE_INCIDENT,
}

func typeName(t changev1.ChangeType) string {
	return strings.ToLower(strings.TrimPrefix(t.String(), "CHANGE_TYPE_"))
}

// decodeGeneric reads one change object or {"changes": [...]}; unknown
// fields are refused, so a misspelt key is named instead of dropped.
func decodeGeneric(body []byte, maxChanges int) (*Decoded, error) {
	var items []GenericChange
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, err
	}
	if _, batch := top["changes"]; batch {
		var b GenericBatch
		if err := strictJSON(body, &b); err != nil {
			return nil, err
		}
		items = b.Changes
	} else {
		var one GenericChange
		if err := strictJSON(body, &one); err != nil {
			return nil, err
		}
		items = []GenericChange{one}
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("changes: empty")
	}
	if len(items) > maxChanges {
		return nil, fmt.Errorf("%w: %d changes, at most %d", ErrTooMany, len(items), maxChanges)
	}
	d := &Decoded{Event: "change"}
	for i, g := range items {
		rec, err := g.record()
		if err != nil {
			return nil, fmt.Errorf("changes[%d].%v", i, err)
		}
		d.Records = append(d.Records, rec)
	}
	return d, nil
}

func (g GenericChange) record() (Record, error) {
	typ, ok := genericTypes[g.Type]
	switch {
	case g.ID == "":
		return Record{}, fmt.Errorf("id: missing: want the change's id at its source")
	case !ok:
		return Record{}, fmt.Errorf("type: want ci_run, deploy, rollback or incident, got %q", g.Type)
	case !ValidStatus(typ, g.Status) && typ == changev1.ChangeType_CHANGE_TYPE_INCIDENT:
		return Record{}, fmt.Errorf("status: an incident is open or resolved, got %q", g.Status)
	case !ValidStatus(typ, g.Status):
		return Record{}, fmt.Errorf("status: want running, success, failure, cancelled or skipped, got %q", g.Status)
	case g.ArtifactDigest != "" && !strings.HasPrefix(g.ArtifactDigest, "sha256:"):
		return Record{}, fmt.Errorf("artifact_digest: want sha256:<hex>, got %q", g.ArtifactDigest)
	}
	ch := &changev1.Change{
		Id: g.ID, Type: typ, Status: g.Status, Url: g.URL, Title: g.Title,
		Source: or(g.Source, FormatGeneric), SourceEvent: "change", Environment: g.Environment,
		Artifact: g.Artifact, ArtifactDigest: g.ArtifactDigest, RollbackOf: g.RollbackOf,
		Severity: g.Severity, Pipeline: g.Pipeline,
	}
	var err error
	if ch.StartedUnixNano, err = rfc3339("started_at", g.StartedAt); err != nil {
		return Record{}, err
	}
	if ch.FinishedUnixNano, err = rfc3339("finished_at", g.FinishedAt); err != nil {
		return Record{}, err
	}
	for i, c := range g.Commits {
		if c.SHA == "" {
			return Record{}, fmt.Errorf("commits[%d].sha: missing", i)
		}
		cm := &changev1.Commit{Sha: c.SHA}
		if cm.CommittedUnixNano, err = rfc3339(fmt.Sprintf("commits[%d].committed_at", i), c.CommittedAt); err != nil {
			return Record{}, err
		}
		ch.Commits = append(ch.Commits, cm)
	}
	commit := g.Commit
	if commit == "" && len(g.Commits) > 0 {
		commit = g.Commits[0].SHA
	}
	return Record{Change: ch, Subject: &eventv1.Subject{Repository: g.Repository, Commit: commit, Branch: g.Branch, Service: g.Service}}, nil
}

func orTime(a, b time.Time) time.Time {
	if !a.IsZero() {
		return a
	}
	return b
}

// rfc3339 reads an optional time field; "" is absent.
func rfc3339(field, v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return 0, fmt.Errorf("%s: want an RFC 3339 time such as 2026-11-30T10:04:00Z, got %q", field, v)
	}
	return nanos(t), nil
}
