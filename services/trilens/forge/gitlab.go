package forge

import (
	"context"
	"fmt"
	"net/http"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"
)

// gitLabTextLimit is the longest note GitLab takes (1,000,000 characters);
// a commit status's description is cut much shorter.
const (
	gitLabTextLimit   = 1000000
	gitLabStatusLimit = 255
)

// GitLab publishes on one project's merge request.
type GitLab struct {
	Client *gitlab.Client
	// Project is the project's id or its path (group/name).
	Project string
	// MR is the merge request's iid; 0 sets the commit status only.
	MR         int64
	SHA        string
	StatusName string
}

// NewGitLabClient is a client of apiURL (CI_API_V4_URL) with a token that
// may write notes (a project or personal access token with the api scope:
// CI_JOB_TOKEN may not).
func NewGitLabClient(apiURL, token string, hc *http.Client) (*gitlab.Client, error) {
	c, err := gitlab.NewClient(token, gitlab.WithBaseURL(apiURL), gitlab.WithHTTPClient(hc))
	if err != nil {
		return nil, fmt.Errorf("GitLab API URL %q: %w", apiURL, err)
	}
	return c, nil
}

// Publish writes the note and the commit status. GitLab has no SARIF
// upload in its API (its security reports are job artifacts): p.SARIF is
// left to the pipeline.
func (g *GitLab) Publish(ctx context.Context, p Publication) (Result, error) {
	var res Result
	var err error
	if g.MR > 0 {
		if res.CommentID, res.CommentCreated, err = g.upsertNote(ctx, p); err != nil {
			return res, err
		}
	}
	state := gitlab.Success
	if !p.Pass {
		state = gitlab.Failed
	}
	opt := &gitlab.SetCommitStatusOptions{State: state, Name: &g.StatusName, Description: gitlab.Ptr(truncate(p.Title, gitLabStatusLimit))}
	if p.DetailsURL != "" {
		opt.TargetURL = &p.DetailsURL
	}
	st, _, err := g.Client.Commits.SetCommitStatus(g.Project, g.SHA, opt, gitlab.WithContext(ctx))
	if err != nil {
		return res, fmt.Errorf("GitLab: commit status %q on %s@%s: %w", g.StatusName, g.Project, g.SHA, err)
	}
	res.CheckID = st.ID
	return res, nil
}

// upsertNote edits the merge request's note bearing the marker, or creates it.
func (g *GitLab) upsertNote(ctx context.Context, p Publication) (int64, bool, error) {
	body := truncate(commentBody(p), gitLabTextLimit)
	opt := &gitlab.ListMergeRequestNotesOptions{ListOptions: gitlab.ListOptions{PerPage: 100}}
	for {
		notes, resp, err := g.Client.Notes.ListMergeRequestNotes(g.Project, g.MR, opt, gitlab.WithContext(ctx))
		if err != nil {
			return 0, false, fmt.Errorf("GitLab: list the notes of %s!%d: %w", g.Project, g.MR, err)
		}
		for _, n := range notes {
			if n.System || !hasMarker(n.Body, p.Service) {
				continue
			}
			if n.Body != body {
				if _, _, err := g.Client.Notes.UpdateMergeRequestNote(g.Project, g.MR, n.ID, &gitlab.UpdateMergeRequestNoteOptions{Body: &body}, gitlab.WithContext(ctx)); err != nil {
					return 0, false, fmt.Errorf("GitLab: edit note %d on %s!%d: %w", n.ID, g.Project, g.MR, err)
				}
			}
			return n.ID, false, nil
		}
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	n, _, err := g.Client.Notes.CreateMergeRequestNote(g.Project, g.MR, &gitlab.CreateMergeRequestNoteOptions{Body: &body}, gitlab.WithContext(ctx))
	if err != nil {
		return 0, false, fmt.Errorf("GitLab: note on %s!%d: %w", g.Project, g.MR, err)
	}
	return n.ID, true, nil
}
