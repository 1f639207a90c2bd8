package tracker_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fixture reads a recorded answer shape (testdata/README.md says whence).
func fixture(t *testing.T, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// knobs are the faults both local servers can inject.
type knobs struct {
	mu sync.Mutex
	// limited answers the next request with a rate limit.
	limited int
	// dropCreate makes the next create happen but lose its answer (the
	// connection closes before any byte of it).
	dropCreate bool
	// spend makes the next answer say it spent the window's last request.
	spend    int
	creates  int
	requests int
}

// fault applies the knobs to a request; true means it was answered.
func (k *knobs) fault(w http.ResponseWriter, limit func(http.ResponseWriter)) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.requests++
	if k.limited > 0 {
		k.limited--
		limit(w)
		return true
	}
	return false
}

func (k *knobs) created(w http.ResponseWriter) (dropped bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.creates++
	if !k.dropCreate {
		return false
	}
	k.dropCreate = false
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		_ = conn.Close()
	}
	return true
}

// ghIssue is an issue of the local GitHub.
type ghIssue struct {
	Number             int
	Title, Body        string
	State, StateReason string
	Labels, Assignees  []string
}

// fakeGitHub implements the GitHub REST routes the sync uses: list a
// repository's issues by label, create, get and edit an issue.
type fakeGitHub struct {
	knobs
	t      *testing.T
	srv    *httptest.Server
	token  string
	shape  map[string]any
	issues map[int]*ghIssue
}

func newFakeGitHub(t *testing.T, token string) *fakeGitHub {
	g := &fakeGitHub{t: t, token: token, shape: fixture(t, "github-issue.json"), issues: map[int]*ghIssue{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /repos/acme/shop/issues", g.list)
	mux.HandleFunc("POST /repos/acme/shop/issues", g.create)
	mux.HandleFunc("GET /repos/acme/shop/issues/{n}", g.get)
	mux.HandleFunc("PATCH /repos/acme/shop/issues/{n}", g.edit)
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+g.token {
			http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
			return
		}
		// GitHub's primary rate limit: 403 with nothing remaining until the reset.
		if g.fault(w, func(w http.ResponseWriter) {
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10))
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"message":"API rate limit exceeded"}`))
		}) {
			return
		}
		w.Header().Set("X-RateLimit-Remaining", "4999")
		g.mu.Lock()
		if g.spend > 0 {
			g.spend--
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10))
		}
		g.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *fakeGitHub) render(i *ghIssue) map[string]any {
	m := map[string]any{}
	for k, v := range g.shape {
		m[k] = v
	}
	m["id"], m["number"], m["title"], m["body"], m["state"] = 1000+i.Number, i.Number, i.Title, i.Body, i.State
	m["html_url"] = fmt.Sprintf("https://github.com/acme/shop/issues/%d", i.Number)
	m["url"] = fmt.Sprintf("%s/repos/acme/shop/issues/%d", g.srv.URL, i.Number)
	if i.StateReason != "" {
		m["state_reason"] = i.StateReason
	}
	var labels, assignees []any
	for _, l := range i.Labels {
		labels = append(labels, map[string]any{"name": l, "color": "ededed", "default": false})
	}
	for _, a := range i.Assignees {
		assignees = append(assignees, map[string]any{"login": a, "type": "User"})
	}
	m["labels"], m["assignees"] = labels, assignees
	return m
}

func (g *fakeGitHub) answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (g *fakeGitHub) list(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	want := r.URL.Query().Get("labels")
	out := []any{}
	for n := 1; n <= len(g.issues); n++ {
		i := g.issues[n]
		if (r.URL.Query().Get("state") == "all" || i.State == "open") && (want == "" || slices.Contains(i.Labels, want)) {
			out = append(out, g.render(i))
		}
	}
	g.answer(w, http.StatusOK, out)
}

type ghRequest struct {
	Title       *string   `json:"title"`
	Body        *string   `json:"body"`
	State       *string   `json:"state"`
	StateReason *string   `json:"state_reason"`
	Labels      *[]string `json:"labels"`
	Assignees   *[]string `json:"assignees"`
}

func (g *fakeGitHub) apply(i *ghIssue, req ghRequest) {
	if req.Title != nil {
		i.Title = *req.Title
	}
	if req.Body != nil {
		i.Body = *req.Body
	}
	if req.Labels != nil {
		i.Labels = *req.Labels
	}
	if req.Assignees != nil {
		i.Assignees = *req.Assignees
	}
	if req.State != nil && *req.State != i.State {
		i.State, i.StateReason = *req.State, "reopened"
		if i.State == "closed" {
			i.StateReason = "completed"
			if req.StateReason != nil {
				i.StateReason = *req.StateReason
			}
		}
	}
}

func (g *fakeGitHub) create(w http.ResponseWriter, r *http.Request) {
	var req ghRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Title == nil {
		g.answer(w, http.StatusUnprocessableEntity, map[string]string{"message": "Validation Failed"})
		return
	}
	g.mu.Lock()
	i := &ghIssue{Number: len(g.issues) + 1, State: "open"}
	g.apply(i, req)
	g.issues[i.Number] = i
	g.mu.Unlock()
	if g.created(w) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.answer(w, http.StatusCreated, g.render(i))
}

func (g *fakeGitHub) issue(w http.ResponseWriter, r *http.Request) *ghIssue {
	n, _ := strconv.Atoi(r.PathValue("n"))
	i := g.issues[n]
	if i == nil {
		g.answer(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
	}
	return i
}

func (g *fakeGitHub) get(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if i := g.issue(w, r); i != nil {
		g.answer(w, http.StatusOK, g.render(i))
	}
}

func (g *fakeGitHub) edit(w http.ResponseWriter, r *http.Request) {
	var req ghRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		g.answer(w, http.StatusBadRequest, map[string]string{"message": "Problems parsing JSON"})
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if i := g.issue(w, r); i != nil {
		g.apply(i, req)
		g.answer(w, http.StatusOK, g.render(i))
	}
}

// closeAs closes issue n as a person would in GitHub.
func (g *fakeGitHub) closeAs(n int, reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.issues[n].State, g.issues[n].StateReason = "closed", reason
}

// jiraIssue is an issue of the local Jira.
type jiraIssue struct {
	Key, Summary string
	Description  any
	Category     string // new, indeterminate, done
	Resolution   string
	Labels       []string
	Assignee     map[string]string
}

// fakeJira implements the Jira REST routes the sync uses, as version 3
// (Cloud: ADF descriptions, /search/jql, accountId) or 2 (Data Center:
// text descriptions, /search, user names).
type fakeJira struct {
	knobs
	t      *testing.T
	srv    *httptest.Server
	api    int
	auth   string
	shape  map[string]any
	trans  map[string]any
	issues map[string]*jiraIssue
	order  []string
}

var labelJQL = regexp.MustCompile(`^project = "([A-Z]+)" AND labels = "([^"]+)"$`)

func newFakeJira(t *testing.T, api int, auth string) *fakeJira {
	j := &fakeJira{t: t, api: api, auth: auth, shape: fixture(t, "jira-issue.json"), trans: fixture(t, "jira-transitions.json"), issues: map[string]*jiraIssue{}}
	p := fmt.Sprintf("/rest/api/%d/", api)
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+p+"issue", j.create)
	mux.HandleFunc("GET "+p+"issue/{key}", j.get)
	mux.HandleFunc("PUT "+p+"issue/{key}", j.update)
	mux.HandleFunc("GET "+p+"issue/{key}/transitions", j.transitions)
	mux.HandleFunc("POST "+p+"issue/{key}/transitions", j.transition)
	if api == 3 {
		mux.HandleFunc("GET "+p+"search/jql", j.search)
	} else {
		mux.HandleFunc("GET "+p+"search", j.search)
	}
	j.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != j.auth {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if j.fault(w, func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}) {
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(j.srv.Close)
	return j
}

func (j *fakeJira) answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

func (j *fakeJira) render(i *jiraIssue) map[string]any {
	m := map[string]any{}
	for k, v := range j.shape {
		m[k] = v
	}
	m["key"], m["id"] = i.Key, strings.TrimPrefix(i.Key, "SHOP-")
	m["self"] = fmt.Sprintf("%s/rest/api/%d/issue/%s", j.srv.URL, j.api, i.Key)
	var res any
	if i.Resolution != "" {
		res = map[string]any{"name": i.Resolution, "description": ""}
	}
	names := map[string]string{"new": "To Do", "indeterminate": "In Progress", "done": "Done"}
	m["fields"] = map[string]any{"status": map[string]any{"name": names[i.Category], "statusCategory": map[string]any{"key": i.Category, "name": names[i.Category]}},
		"resolution": res}
	return m
}

// checkFields refuses what the API version would refuse.
func (j *fakeJira) checkFields(f map[string]any) string {
	switch d := f["description"].(type) {
	case string:
		if j.api == 3 {
			return "description: Operation value must be an Atlassian Document"
		}
	case map[string]any:
		if j.api == 2 || d["type"] != "doc" {
			return "description: Operation value must be a string"
		}
	}
	if a, ok := f["assignee"].(map[string]any); ok {
		if _, has := a[map[int]string{3: "accountId", 2: "name"}[j.api]]; !has {
			return "assignee: wrong user reference for this API version"
		}
	}
	return ""
}

func (j *fakeJira) apply(i *jiraIssue, f map[string]any) {
	if s, ok := f["summary"].(string); ok {
		i.Summary = s
	}
	if d, ok := f["description"]; ok {
		i.Description = d
	}
	if ls, ok := f["labels"].([]any); ok {
		i.Labels = nil
		for _, l := range ls {
			i.Labels = append(i.Labels, l.(string))
		}
	}
	if a, ok := f["assignee"].(map[string]any); ok {
		i.Assignee = map[string]string{}
		for k, v := range a {
			i.Assignee[k] = v.(string)
		}
	}
}

func (j *fakeJira) body(w http.ResponseWriter, r *http.Request) (map[string]any, bool) {
	var req struct {
		Fields map[string]any `json:"fields"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		j.answer(w, http.StatusBadRequest, map[string]any{"errorMessages": []string{err.Error()}})
		return nil, false
	}
	if msg := j.checkFields(req.Fields); msg != "" {
		j.answer(w, http.StatusBadRequest, map[string]any{"errorMessages": []string{msg}})
		return nil, false
	}
	return req.Fields, true
}

func (j *fakeJira) create(w http.ResponseWriter, r *http.Request) {
	f, ok := j.body(w, r)
	if !ok {
		return
	}
	if p, _ := f["project"].(map[string]any); p["key"] != "SHOP" {
		j.answer(w, http.StatusBadRequest, map[string]any{"errors": map[string]string{"project": "valid project is required"}})
		return
	}
	j.mu.Lock()
	i := &jiraIssue{Key: fmt.Sprintf("SHOP-%d", len(j.issues)+1), Category: "new"}
	j.apply(i, f)
	j.issues[i.Key] = i
	j.order = append(j.order, i.Key)
	j.mu.Unlock()
	if j.created(w) {
		return
	}
	out := fixture(j.t, "jira-created.json")
	out["key"], out["id"], out["self"] = i.Key, strings.TrimPrefix(i.Key, "SHOP-"), j.srv.URL+"/rest/api/issue/"+i.Key
	j.answer(w, http.StatusCreated, out)
}

func (j *fakeJira) issue(w http.ResponseWriter, r *http.Request) *jiraIssue {
	i := j.issues[r.PathValue("key")]
	if i == nil {
		j.answer(w, http.StatusNotFound, map[string]any{"errorMessages": []string{"Issue does not exist or you do not have permission to see it."}})
	}
	return i
}

func (j *fakeJira) get(w http.ResponseWriter, r *http.Request) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if i := j.issue(w, r); i != nil {
		j.answer(w, http.StatusOK, j.render(i))
	}
}

func (j *fakeJira) update(w http.ResponseWriter, r *http.Request) {
	f, ok := j.body(w, r)
	if !ok {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if i := j.issue(w, r); i != nil {
		j.apply(i, f)
		w.WriteHeader(http.StatusNoContent)
	}
}

func (j *fakeJira) transitions(w http.ResponseWriter, r *http.Request) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if i := j.issue(w, r); i != nil {
		j.answer(w, http.StatusOK, j.trans)
	}
}

func (j *fakeJira) transition(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Transition struct {
			ID string `json:"id"`
		} `json:"transition"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	j.mu.Lock()
	defer j.mu.Unlock()
	i := j.issue(w, r)
	if i == nil {
		return
	}
	switch req.Transition.ID {
	case "31":
		i.Category, i.Resolution = "done", "Done"
	case "11":
		i.Category, i.Resolution = "new", ""
	default:
		j.answer(w, http.StatusBadRequest, map[string]any{"errorMessages": []string{"Transition id '" + req.Transition.ID + "' is not valid for this issue."}})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (j *fakeJira) search(w http.ResponseWriter, r *http.Request) {
	m := labelJQL.FindStringSubmatch(r.URL.Query().Get("jql"))
	if m == nil {
		j.answer(w, http.StatusBadRequest, map[string]any{"errorMessages": []string{"Error in the JQL Query"}})
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	out := []any{}
	for _, k := range j.order {
		if slices.Contains(j.issues[k].Labels, m[2]) {
			out = append(out, j.render(j.issues[k]))
		}
	}
	if j.api == 3 {
		j.answer(w, http.StatusOK, map[string]any{"issues": out, "isLast": true})
		return
	}
	j.answer(w, http.StatusOK, map[string]any{"expand": "schema,names", "startAt": 0, "maxResults": 50, "total": len(out), "issues": out})
}

// resolve resolves an issue as a person would in Jira.
func (j *fakeJira) resolve(key, resolution string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.issues[key].Category, j.issues[key].Resolution = "done", resolution
}
