package forge

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-github/v75/github"
)

// gitHubTextLimit is the longest comment body and check run text GitHub takes.
const gitHubTextLimit = 65535

// GitHub publishes on one repository's pull request.
type GitHub struct {
	Client      *github.Client
	Owner, Repo string
	// PR is the pull request number; 0 (a push, no pull request) publishes
	// the check run and the SARIF only.
	PR int
	// HeadSHA is the commit the check run and the analysis belong to: the
	// pull request's head, not the merge commit Actions checks out.
	HeadSHA string
	// Ref is the analysis's ref: refs/pull/N/head, or the pushed branch.
	Ref       string
	CheckName string
}

// NewGitHubClient is a client of apiURL (https://api.github.com/ or a GitHub
// Enterprise Server's /api/v3/) with token.
func NewGitHubClient(apiURL, token string, hc *http.Client) (*github.Client, error) {
	c := github.NewClient(hc).WithAuthToken(token)
	if apiURL == "" || strings.TrimRight(apiURL, "/") == "https://api.github.com" {
		return c, nil
	}
	// GitHub Enterprise Server: GITHUB_API_URL is https://HOST/api/v3.
	c, err := c.WithEnterpriseURLs(apiURL, apiURL)
	if err != nil {
		return nil, fmt.Errorf("GitHub API URL %q: %w", apiURL, err)
	}
	return c, nil
}

// Publish writes the comment, the check run and the analysis.
func (g *GitHub) Publish(ctx context.Context, p Publication) (Result, error) {
	var res Result
	var err error
	if g.PR > 0 {
		if res.CommentID, res.CommentCreated, err = g.upsertComment(ctx, p); err != nil {
			return res, err
		}
	}
	if res.CheckID, err = g.checkRun(ctx, p); err != nil {
		return res, err
	}
	if p.SARIF != nil {
		if res.SARIFID, err = g.uploadSARIF(ctx, p.SARIF); err != nil {
			return res, err
		}
	}
	return res, nil
}

// upsertComment edits the pull request's comment bearing the marker, or
// creates it: one comment however often the gate runs.
func (g *GitHub) upsertComment(ctx context.Context, p Publication) (int64, bool, error) {
	body := truncate(commentBody(p), gitHubTextLimit)
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for {
		cs, resp, err := g.Client.Issues.ListComments(ctx, g.Owner, g.Repo, g.PR, opts)
		if err != nil {
			return 0, false, fmt.Errorf("GitHub: list the comments of %s/%s#%d: %w", g.Owner, g.Repo, g.PR, err)
		}
		for _, c := range cs {
			if hasMarker(c.GetBody(), p.Service) {
				if c.GetBody() == body {
					return c.GetID(), false, nil
				}
				_, _, err := g.Client.Issues.EditComment(ctx, g.Owner, g.Repo, c.GetID(), &github.IssueComment{Body: &body})
				if err != nil {
					return 0, false, fmt.Errorf("GitHub: edit comment %d on %s/%s#%d: %w", c.GetID(), g.Owner, g.Repo, g.PR, err)
				}
				return c.GetID(), false, nil
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	c, _, err := g.Client.Issues.CreateComment(ctx, g.Owner, g.Repo, g.PR, &github.IssueComment{Body: &body})
	if err != nil {
		return 0, false, fmt.Errorf("GitHub: comment on %s/%s#%d: %w", g.Owner, g.Repo, g.PR, err)
	}
	return c.GetID(), true, nil
}

func (g *GitHub) checkRun(ctx context.Context, p Publication) (int64, error) {
	conclusion := "success"
	if !p.Pass {
		conclusion = "failure"
	}
	now := github.Timestamp{Time: time.Now()}
	opts := github.CreateCheckRunOptions{
		Name: g.CheckName, HeadSHA: g.HeadSHA, Status: github.Ptr("completed"), Conclusion: &conclusion, CompletedAt: &now,
		Output: &github.CheckRunOutput{Title: github.Ptr(p.Title), Summary: github.Ptr(truncate(p.Body, gitHubTextLimit))},
	}
	if p.DetailsURL != "" {
		opts.DetailsURL = &p.DetailsURL
	}
	cr, _, err := g.Client.Checks.CreateCheckRun(ctx, g.Owner, g.Repo, opts)
	if err != nil {
		return 0, fmt.Errorf("GitHub: check run %q on %s/%s@%s: %w", g.CheckName, g.Owner, g.Repo, g.HeadSHA, err)
	}
	return cr.GetID(), nil
}

func (g *GitHub) uploadSARIF(ctx context.Context, log []byte) (string, error) {
	enc, err := EncodeSARIF(log)
	if err != nil {
		return "", err
	}
	id, _, err := g.Client.CodeScanning.UploadSarif(ctx, g.Owner, g.Repo, &github.SarifAnalysis{
		CommitSHA: &g.HeadSHA, Ref: &g.Ref, Sarif: &enc, ToolName: github.Ptr("trilens"),
	})
	if err != nil {
		return "", fmt.Errorf("GitHub: upload SARIF to %s/%s for %s@%s: %w", g.Owner, g.Repo, g.Ref, g.HeadSHA, err)
	}
	return id.GetID(), nil
}
