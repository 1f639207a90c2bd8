package changecollector

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	changev1 "github.com/trilens/trilens/proto/trilens/change/v1"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	gitlab "gitlab.com/gitlab-org/api/client-go/v2"
)

func decodeGitLab(event string, payload []byte) (*Decoded, error) {
	d := &Decoded{Event: event}
	switch gitlab.EventType(event) {
	case gitlab.EventTypePipeline, gitlab.EventTypeDeployment:
	default:
		d.Ignored = fmt.Sprintf("GitLab event %q is no change: enable pipeline and deployment events on the webhook", event)
		return d, nil
	}
	ev, err := gitlab.ParseWebhook(gitlab.EventType(event), payload)
	if err != nil {
		return nil, err
	}
	var rec *Record
	switch e := ev.(type) {
	case *gitlab.PipelineEvent:
		rec, err = gitLabPipeline(e)
	case *gitlab.DeploymentEvent:
		rec, err = gitLabDeployment(e)
	}
	if err != nil {
		return nil, err
	}
	rec.Change.Source, rec.Change.SourceEvent = FormatGitLab, event
	d.Records = []Record{*rec}
	return d, nil
}

func gitLabPipeline(e *gitlab.PipelineEvent) (*Record, error) {
	a := e.ObjectAttributes
	if a.ID == 0 {
		return nil, fmt.Errorf("pipeline: no object_attributes.id")
	}
	status, err := gitLabStatus(a.Status)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	started, err := gitLabTime(a.CreatedAt)
	if err != nil {
		return nil, fmt.Errorf("pipeline: object_attributes.created_at: %w", err)
	}
	finished, err := gitLabTime(a.FinishedAt)
	if err != nil {
		return nil, fmt.Errorf("pipeline: object_attributes.finished_at: %w", err)
	}
	url := a.URL
	if url == "" && e.Project.WebURL != "" {
		url = fmt.Sprintf("%s/-/pipelines/%d", e.Project.WebURL, a.ID)
	}
	ch := &changev1.Change{
		Id:               fmt.Sprintf("gitlab:pipeline:%d:%d", e.Project.ID, a.ID),
		Type:             changev1.ChangeType_CHANGE_TYPE_CI_RUN,
		Status:           status,
		StartedUnixNano:  nanos(started),
		FinishedUnixNano: nanos(finished),
		Url:              url,
		Title:            or(e.Commit.Title, firstLine(e.Commit.Message)),
		Pipeline:         or(a.Name, "pipeline"),
	}
	if sha := or(a.SHA, e.Commit.ID); sha != "" {
		c := &changev1.Commit{Sha: sha}
		if e.Commit.ID == sha && e.Commit.Timestamp != nil {
			c.CommittedUnixNano = nanos(*e.Commit.Timestamp)
		}
		ch.Commits = []*changev1.Commit{c}
	}
	subj := &eventv1.Subject{Repository: e.Project.PathWithNamespace, Commit: or(a.SHA, e.Commit.ID), PipelineRun: fmt.Sprint(a.ID)}
	if !a.Tag {
		subj.Branch = a.Ref
	}
	if e.MergeRequest.TargetBranch != "" {
		subj.BaseBranch = e.MergeRequest.TargetBranch
	}
	return &Record{Change: ch, Subject: subj}, nil
}

func gitLabDeployment(e *gitlab.DeploymentEvent) (*Record, error) {
	if e.DeploymentID == 0 {
		return nil, fmt.Errorf("deployment: no deployment_id")
	}
	status, err := gitLabStatus(e.Status)
	if err != nil {
		return nil, fmt.Errorf("deployment: %w", err)
	}
	at, err := gitLabTime(e.StatusChangedAt)
	if err != nil {
		return nil, fmt.Errorf("deployment: status_changed_at: %w", err)
	}
	// The hook gives the short sha; the full one ends the commit URL.
	sha := e.ShortSHA
	if last := path.Base(e.CommitURL); fullSHA.MatchString(last) && strings.HasPrefix(last, e.ShortSHA) {
		sha = last
	}
	ch := &changev1.Change{
		Id:          fmt.Sprintf("gitlab:deployment:%d:%d", e.Project.ID, e.DeploymentID),
		Type:        changev1.ChangeType_CHANGE_TYPE_DEPLOY,
		Status:      status,
		Url:         or(e.DeployableURL, e.EnvironmentExternalURL),
		Title:       or(e.CommitTitle, "deploy "+e.Ref+" to "+e.Environment),
		Environment: e.Environment,
	}
	// The hook has one time: when the deployment reached this status.
	if status == StatusRunning {
		ch.StartedUnixNano = nanos(at)
	} else {
		ch.FinishedUnixNano = nanos(at)
	}
	if sha != "" {
		ch.Commits = []*changev1.Commit{{Sha: sha}}
	}
	return &Record{Change: ch, Subject: &eventv1.Subject{Repository: e.Project.PathWithNamespace, Commit: sha, Branch: e.Ref}}, nil
}

var fullSHA = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// gitLabStatus maps pipeline and deployment statuses.
func gitLabStatus(s string) (string, error) {
	switch s {
	case "success":
		return StatusSuccess, nil
	case "failed":
		return StatusFailure, nil
	case "canceled", "canceling":
		return StatusCancelled, nil
	case "skipped":
		return StatusSkipped, nil
	case "created", "waiting_for_resource", "preparing", "pending", "running", "manual", "scheduled", "waiting_for_callback", "blocked":
		return StatusRunning, nil
	}
	return "", fmt.Errorf("unknown status %q", s)
}

// gitLabTime reads GitLab's hook times ("2016-08-12 15:23:28 UTC",
// "2021-04-28 21:50:00 +0200", or RFC 3339); "" is absent.
func gitLabTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05 MST", "2006-01-02 15:04:05 -0700", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("unreadable time %q", s)
}
