package tracker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/trilens/trilens/pkg/policy"
)

// jira is Jira's REST API through net/http: version 3 (Jira Cloud, whose
// descriptions are Atlassian Document Format) or 2 (Data Center, plain
// text). Cloud authenticates with an account's e-mail and API token (basic
// auth), Data Center with a personal access token (bearer).
type jira struct {
	base        string
	api         int
	user, token string
	hc          *http.Client
}

// Resolutions that mean "won't fix": Jira's defaults, in Jira Software
// (Won't Do) and Jira Service Management / older projects (Won't Fix).
var wontFix = []string{"won't fix", "won't do", "wont fix", "wont do"}

type jiraFields struct {
	Status struct {
		StatusCategory struct {
			Key string `json:"key"`
		} `json:"statusCategory"`
	} `json:"status"`
	Resolution *struct {
		Name string `json:"name"`
	} `json:"resolution"`
}

type jiraIssue struct {
	ID     string     `json:"id"`
	Key    string     `json:"key"`
	Fields jiraFields `json:"fields"`
}

func (j *jira) issueOf(x jiraIssue) *issue {
	done := x.Fields.Status.StatusCategory.Key == "done"
	res := ""
	if x.Fields.Resolution != nil {
		res = strings.ToLower(x.Fields.Resolution.Name)
	}
	return &issue{Key: x.Key, URL: j.base + "/browse/" + x.Key, Open: !done,
		WontFix: done && containsFold(wontFix, strings.ReplaceAll(res, "’", "'"))}
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// call sends one request; out, when not nil, receives the JSON answer. It
// returns the status for the callers that tell a missing issue apart.
func (j *jira) call(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, fmt.Sprintf("%s/rest/api/%d/%s", j.base, j.api, path), body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if j.user != "" {
		req.SetBasicAuth(j.user, j.token)
	} else if j.token != "" {
		req.Header.Set("Authorization", "Bearer "+j.token)
	}
	resp, err := j.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("jira %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("jira %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		// Jira's error body names the fields it refused; it never echoes the token.
		return resp.StatusCode, fmt.Errorf("jira %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data[:min(len(data), 500)]))
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("jira %s %s: answer is not the JSON expected: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

func (j *jira) Find(ctx context.Context, r policy.IssueTracker, marker string) (*issue, error) {
	q := url.Values{}
	q.Set("jql", fmt.Sprintf(`project = %q AND labels = %q`, r.Project, marker))
	q.Set("fields", "status,resolution")
	path := "search?" + q.Encode()
	if j.api == 3 {
		path = "search/jql?" + q.Encode() // Jira Cloud's search; /search is being removed there
	}
	var out struct {
		Issues []jiraIssue `json:"issues"`
	}
	if _, err := j.call(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	if len(out.Issues) == 0 {
		return nil, nil
	}
	return j.issueOf(out.Issues[0]), nil
}

// description is the body in the API version's format: ADF paragraphs on
// Cloud, the text itself on Data Center.
// The marker comment is GitHub's hidden HTML; Jira finds issues by label.
func (j *jira) description(body string) any {
	var lines []string
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, "<!--") {
			lines = append(lines, line)
		}
	}
	if j.api == 2 {
		return strings.TrimSpace(strings.Join(lines, "\n"))
	}
	var paras []any
	for _, line := range lines {
		if strings.TrimSpace(line) == "" {
			continue
		}
		paras = append(paras, map[string]any{"type": "paragraph", "content": []any{map[string]any{"type": "text", "text": line}}})
	}
	return map[string]any{"type": "doc", "version": 1, "content": paras}
}

func (j *jira) fields(r policy.IssueTracker, d draft) map[string]any {
	f := map[string]any{"summary": d.Title, "description": j.description(d.Body), "labels": d.Labels}
	if d.Assignee != "" {
		if j.api == 3 {
			f["assignee"] = map[string]string{"accountId": d.Assignee}
		} else {
			f["assignee"] = map[string]string{"name": d.Assignee}
		}
	}
	return f
}

func (j *jira) Create(ctx context.Context, r policy.IssueTracker, d draft) (*issue, error) {
	f := j.fields(r, d)
	f["project"] = map[string]string{"key": r.Project}
	typ := r.IssueType
	if typ == "" {
		typ = "Bug"
	}
	f["issuetype"] = map[string]string{"name": typ}
	var out jiraIssue
	if _, err := j.call(ctx, http.MethodPost, "issue", map[string]any{"fields": f}, &out); err != nil {
		return nil, fmt.Errorf("create in %s: %w", r.Project, err)
	}
	if out.Key == "" {
		return nil, fmt.Errorf("jira create in %s: the answer names no issue key", r.Project)
	}
	return &issue{Key: out.Key, URL: j.base + "/browse/" + out.Key, Open: true}, nil
}

func (j *jira) Get(ctx context.Context, r policy.IssueTracker, key string) (*issue, error) {
	var out jiraIssue
	status, err := j.call(ctx, http.MethodGet, "issue/"+url.PathEscape(key)+"?fields=status,resolution", nil, &out)
	if status == http.StatusNotFound {
		return nil, errGone
	}
	if err != nil {
		return nil, err
	}
	return j.issueOf(out), nil
}

func (j *jira) Update(ctx context.Context, r policy.IssueTracker, key string, d draft) error {
	_, err := j.call(ctx, http.MethodPut, "issue/"+url.PathEscape(key), map[string]any{"fields": j.fields(r, d)}, nil)
	return err
}

// transition moves the issue through the first transition of the
// workflow whose target status is (done) or is not (!done) in the done
// category: workflows name their transitions as they like, the status
// categories are fixed.
func (j *jira) transition(ctx context.Context, key string, done bool) error {
	var out struct {
		Transitions []struct {
			ID string `json:"id"`
			To struct {
				StatusCategory struct {
					Key string `json:"key"`
				} `json:"statusCategory"`
			} `json:"to"`
		} `json:"transitions"`
	}
	path := "issue/" + url.PathEscape(key) + "/transitions"
	if _, err := j.call(ctx, http.MethodGet, path, nil, &out); err != nil {
		return err
	}
	for _, t := range out.Transitions {
		if (t.To.StatusCategory.Key == "done") == done {
			_, err := j.call(ctx, http.MethodPost, path, map[string]any{"transition": map[string]string{"id": t.ID}}, nil)
			return err
		}
	}
	return fmt.Errorf("jira %s: no transition to a status %s the done category", key, map[bool]string{true: "in", false: "outside"}[done])
}

func (j *jira) Close(ctx context.Context, _ policy.IssueTracker, key string) error {
	return j.transition(ctx, key, true)
}

func (j *jira) Reopen(ctx context.Context, _ policy.IssueTracker, key string) error {
	return j.transition(ctx, key, false)
}
