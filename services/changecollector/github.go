package changecollector

import (
	"fmt"
	"strings"

	"github.com/google/go-github/v75/github"
	changev1 "github.com/trilens/trilens/proto/trilens/change/v1"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

// GitHub webhook events the collector takes; ping answers a new webhook.
var gitHubEvents = []string{"workflow_run", "deployment_status", "check_run"}

func decodeGitHub(event string, payload []byte) (*Decoded, error) {
	d := &Decoded{Event: event}
	switch event {
	case "ping":
		d.Ignored = "ping: the webhook is set up"
		return d, nil
	case "workflow_run", "deployment_status", "check_run":
	default:
		d.Ignored = fmt.Sprintf("GitHub event %q is no change: subscribe the webhook to %s", event, strings.Join(gitHubEvents, ", "))
		return d, nil
	}
	ev, err := github.ParseWebHook(event, payload)
	if err != nil {
		return nil, err
	}
	var rec *Record
	switch e := ev.(type) {
	case *github.WorkflowRunEvent:
		rec, err = gitHubWorkflowRun(e)
	case *github.DeploymentStatusEvent:
		rec, err = gitHubDeploymentStatus(e)
	case *github.CheckRunEvent:
		rec, err = gitHubCheckRun(e)
	}
	if err != nil {
		return nil, err
	}
	if rec == nil {
		d.Ignored = fmt.Sprintf("%s: %s", event, "state carries no change (a superseded deployment)")
		return d, nil
	}
	rec.Change.Source, rec.Change.SourceEvent = FormatGitHub, event
	d.Records = []Record{*rec}
	return d, nil
}

func gitHubWorkflowRun(e *github.WorkflowRunEvent) (*Record, error) {
	run := e.GetWorkflowRun()
	if run.GetID() == 0 {
		return nil, fmt.Errorf("workflow_run: no workflow_run.id")
	}
	ch := &changev1.Change{
		Id:              fmt.Sprintf("github:workflow_run:%d:%d", run.GetID(), max(run.GetRunAttempt(), 1)),
		Type:            changev1.ChangeType_CHANGE_TYPE_CI_RUN,
		Status:          gitHubRunStatus(run.GetStatus(), run.GetConclusion()),
		StartedUnixNano: nanos(run.GetRunStartedAt().Time),
		Url:             run.GetHTMLURL(),
		Title:           or(run.GetDisplayTitle(), firstLine(run.GetHeadCommit().GetMessage())),
		Pipeline:        or(run.GetName(), or(e.GetWorkflow().GetName(), run.GetPath())),
	}
	if ch.Status != StatusRunning {
		ch.FinishedUnixNano = nanos(run.GetUpdatedAt().Time)
	}
	if sha := run.GetHeadSHA(); sha != "" {
		ch.Commits = []*changev1.Commit{{Sha: sha, CommittedUnixNano: nanos(run.GetHeadCommit().GetTimestamp().Time)}}
	}
	repo := or(run.GetRepository().GetFullName(), e.GetRepo().GetFullName())
	return &Record{Change: ch, Subject: &eventv1.Subject{Repository: repo, Commit: run.GetHeadSHA(), Branch: run.GetHeadBranch(),
		PipelineRun: fmt.Sprint(run.GetID())}}, nil
}

func gitHubDeploymentStatus(e *github.DeploymentStatusEvent) (*Record, error) {
	dep, st := e.GetDeployment(), e.GetDeploymentStatus()
	if dep.GetID() == 0 {
		return nil, fmt.Errorf("deployment_status: no deployment.id")
	}
	var status string
	switch st.GetState() {
	case "success":
		status = StatusSuccess
	case "failure", "error":
		status = StatusFailure
	case "pending", "queued", "in_progress":
		status = StatusRunning
	case "inactive":
		// A newer deployment to the environment superseded this one: not a state of the change.
		return nil, nil
	default:
		return nil, fmt.Errorf("deployment_status: unknown state %q", st.GetState())
	}
	typ := changev1.ChangeType_CHANGE_TYPE_DEPLOY
	if strings.Contains(strings.ToLower(dep.GetTask()), "rollback") {
		typ = changev1.ChangeType_CHANGE_TYPE_ROLLBACK
	}
	env := or(st.GetEnvironment(), dep.GetEnvironment())
	ch := &changev1.Change{
		Id:              fmt.Sprintf("github:deployment:%d", dep.GetID()),
		Type:            typ,
		Status:          status,
		StartedUnixNano: nanos(dep.GetCreatedAt().Time),
		Url:             or(st.GetTargetURL(), or(st.GetLogURL(), st.GetEnvironmentURL())),
		Title:           or(dep.GetDescription(), fmt.Sprintf("%s %s to %s", or(dep.GetTask(), "deploy"), dep.GetRef(), env)),
		Environment:     env,
	}
	if status != StatusRunning {
		ch.FinishedUnixNano = nanos(orTime(st.GetCreatedAt().Time, st.GetUpdatedAt().Time))
	}
	if sha := dep.GetSHA(); sha != "" {
		ch.Commits = []*changev1.Commit{{Sha: sha}}
	}
	return &Record{Change: ch, Subject: &eventv1.Subject{Repository: e.GetRepo().GetFullName(), Commit: dep.GetSHA(), Branch: dep.GetRef()}}, nil
}

func gitHubCheckRun(e *github.CheckRunEvent) (*Record, error) {
	run := e.GetCheckRun()
	if run.GetID() == 0 {
		return nil, fmt.Errorf("check_run: no check_run.id")
	}
	ch := &changev1.Change{
		Id:               fmt.Sprintf("github:check_run:%d", run.GetID()),
		Type:             changev1.ChangeType_CHANGE_TYPE_CI_RUN,
		Status:           gitHubRunStatus(run.GetStatus(), run.GetConclusion()),
		StartedUnixNano:  nanos(run.GetStartedAt().Time),
		FinishedUnixNano: nanos(run.GetCompletedAt().Time),
		Url:              or(run.GetHTMLURL(), run.GetDetailsURL()),
		Title:            or(run.GetOutput().GetTitle(), run.GetName()),
		Pipeline:         run.GetName(),
	}
	if sha := run.GetHeadSHA(); sha != "" {
		ch.Commits = []*changev1.Commit{{Sha: sha}}
	}
	return &Record{Change: ch, Subject: &eventv1.Subject{Repository: e.GetRepo().GetFullName(), Commit: run.GetHeadSHA(),
		Branch: run.GetCheckSuite().GetHeadBranch()}}, nil
}

// gitHubRunStatus maps a run's status and conclusion: a run that has not
// completed is running; timed_out and startup_failure are failures.
func gitHubRunStatus(status, conclusion string) string {
	if status != "completed" {
		return StatusRunning
	}
	switch conclusion {
	case "success":
		return StatusSuccess
	case "cancelled":
		return StatusCancelled
	case "skipped", "neutral", "stale":
		return StatusSkipped
	}
	// failure, timed_out, startup_failure, action_required.
	return StatusFailure
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(s)
}
