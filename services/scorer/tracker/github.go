package tracker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/go-github/v75/github"
	"github.com/trilens/trilens/pkg/policy"
)

// issue is what the sync needs to know of a tracker's issue.
type issue struct {
	Key     string // GitHub: the number; Jira: the key (SHOP-7)
	URL     string
	Open    bool
	WontFix bool // closed as not planned (GitHub) or resolved Won't Fix / Won't Do (Jira)
}

// client is one tracker's REST API, for one rule's repository or project.
type client interface {
	// Find returns the issue labelled marker, or nil.
	Find(ctx context.Context, r policy.IssueTracker, marker string) (*issue, error)
	Create(ctx context.Context, r policy.IssueTracker, d draft) (*issue, error)
	Get(ctx context.Context, r policy.IssueTracker, key string) (*issue, error)
	// Update rewrites the issue's text, labels and assignee.
	Update(ctx context.Context, r policy.IssueTracker, key string, d draft) error
	// Close closes the issue as done; Reopen opens it again.
	Close(ctx context.Context, r policy.IssueTracker, key string) error
	Reopen(ctx context.Context, r policy.IssueTracker, key string) error
}

// gitHub is GitHub Issues through go-github.
type gitHub struct{ c *github.Client }

func newGitHub(apiURL, token string, hc *http.Client) (*gitHub, error) {
	c := github.NewClient(hc)
	if token != "" {
		c = c.WithAuthToken(token)
	}
	if !strings.HasSuffix(apiURL, "/") {
		apiURL += "/"
	}
	u, err := url.Parse(apiURL)
	if err != nil {
		return nil, fmt.Errorf("trackers.github_url %q: %w", apiURL, err)
	}
	c.BaseURL = u
	return &gitHub{c: c}, nil
}

func ownerRepo(r policy.IssueTracker) (string, string) {
	o, n, _ := strings.Cut(r.Repository, "/")
	return o, n
}

func ghIssue(i *github.Issue) *issue {
	return &issue{Key: strconv.Itoa(i.GetNumber()), URL: i.GetHTMLURL(), Open: i.GetState() == "open",
		WontFix: i.GetState() == "closed" && i.GetStateReason() == "not_planned"}
}

func (g *gitHub) Find(ctx context.Context, r policy.IssueTracker, marker string) (*issue, error) {
	o, n := ownerRepo(r)
	// Listing by label reads the repository itself; the search API lags
	// behind new issues, so a lost create could go unseen there.
	is, _, err := g.c.Issues.ListByRepo(ctx, o, n, &github.IssueListByRepoOptions{State: "all", Labels: []string{marker}})
	if err != nil {
		return nil, fmt.Errorf("github %s: issues labelled %s: %w", r.Repository, marker, err)
	}
	for _, i := range is {
		if !i.IsPullRequest() {
			return ghIssue(i), nil
		}
	}
	return nil, nil
}

func (g *gitHub) request(d draft) *github.IssueRequest {
	req := &github.IssueRequest{Title: &d.Title, Body: &d.Body, Labels: &d.Labels}
	if d.Assignee != "" {
		req.Assignees = &[]string{d.Assignee}
	}
	return req
}

func (g *gitHub) Create(ctx context.Context, r policy.IssueTracker, d draft) (*issue, error) {
	o, n := ownerRepo(r)
	i, _, err := g.c.Issues.Create(ctx, o, n, g.request(d))
	if err != nil {
		return nil, fmt.Errorf("github %s: create issue %q: %w", r.Repository, d.Title, err)
	}
	return ghIssue(i), nil
}

func number(key string) (int, error) {
	n, err := strconv.Atoi(key)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("github issue %q: want a positive issue number", key)
	}
	return n, nil
}

func (g *gitHub) Get(ctx context.Context, r policy.IssueTracker, key string) (*issue, error) {
	num, err := number(key)
	if err != nil {
		return nil, err
	}
	o, n := ownerRepo(r)
	i, resp, err := g.c.Issues.Get(ctx, o, n, num)
	if resp != nil && (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone) {
		return nil, errGone
	}
	if err != nil {
		return nil, fmt.Errorf("github %s#%s: %w", r.Repository, key, err)
	}
	return ghIssue(i), nil
}

func (g *gitHub) edit(ctx context.Context, r policy.IssueTracker, key string, req *github.IssueRequest) error {
	num, err := number(key)
	if err != nil {
		return err
	}
	o, n := ownerRepo(r)
	if _, _, err := g.c.Issues.Edit(ctx, o, n, num, req); err != nil {
		return fmt.Errorf("github %s#%s: edit: %w", r.Repository, key, err)
	}
	return nil
}

func (g *gitHub) Update(ctx context.Context, r policy.IssueTracker, key string, d draft) error {
	return g.edit(ctx, r, key, g.request(d))
}

func (g *gitHub) Close(ctx context.Context, r policy.IssueTracker, key string) error {
	return g.edit(ctx, r, key, &github.IssueRequest{State: github.Ptr("closed"), StateReason: github.Ptr("completed")})
}

func (g *gitHub) Reopen(ctx context.Context, r policy.IssueTracker, key string) error {
	return g.edit(ctx, r, key, &github.IssueRequest{State: github.Ptr("open")})
}

// errGone is the answer for an issue deleted (or moved away) in the tracker.
var errGone = errors.New("issue no longer exists")
