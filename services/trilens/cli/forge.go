package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/trilens/trilens/services/scorer/scan"
	"github.com/trilens/trilens/services/scorer/scorecard"
	"github.com/trilens/trilens/services/trilens/forge"
)

const forgeHelp = `

Pull requests:
  --github  in GitHub Actions: posts one comment on the pull request (found
            again by a hidden marker and edited on every later run, one per
            --service), with the scorecard's delta against the base branch:
            new gaps first, money at risk here and on the base, what was
            fixed, what is waived, and links to the Trilens page and the run;
            creates a check run "trilens" whose conclusion is the verdict
            (success or failure, as the exit code 0 or 1); uploads the new and
            open security findings as SARIF to code scanning, so they show in
            the diff. Reads GITHUB_TOKEN (permissions: pull-requests: write,
            checks: write, security-events: write), GITHUB_REPOSITORY,
            GITHUB_API_URL, and the pull request's number and head commit
            from GITHUB_EVENT_PATH (or --pr and --head-sha).
  --gitlab  in GitLab CI: the same note on the merge request and a commit
            status "trilens" (success or failed). Reads GITLAB_TOKEN (a
            project access token with the api scope: CI_JOB_TOKEN may not
            write notes), CI_API_V4_URL, CI_PROJECT_ID,
            CI_MERGE_REQUEST_IID, CI_COMMIT_SHA and CI_PIPELINE_URL.
  The CI variables are checked before anything is submitted; the
  publication comes after the verdict is printed; if either fails the exit
  code is 2.`

// forgeOptions are the flags that publish the verdict on a pull request.
type forgeOptions struct {
	github, gitlab bool
	pr             int
	headSHA        string
	pageURL        string
	checkName      string
}

func (f *forgeOptions) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&f.github, "github", false, "publish on the GitHub pull request: comment, check run, SARIF to code scanning (see Pull requests)")
	fl.BoolVar(&f.gitlab, "gitlab", false, "publish on the GitLab merge request: note and commit status (see Pull requests)")
	fl.IntVar(&f.pr, "pr", 0, "pull (merge) request number (default: from GITHUB_EVENT_PATH or CI_MERGE_REQUEST_IID)")
	fl.StringVar(&f.headSHA, "head-sha", "", "commit the check belongs to (default: the pull request's head, else GITHUB_SHA or CI_COMMIT_SHA)")
	fl.StringVar(&f.pageURL, "page-url", os.Getenv("TRILENS_PAGE_URL"), "base URL of the Trilens page for the comment's links (TRILENS_PAGE_URL; default --url)")
	fl.StringVar(&f.checkName, "check-name", "trilens", "name of the check run or commit status")
}

// publisher is a forge that takes a publication.
type publisher interface {
	Publish(ctx context.Context, p forge.Publication) (forge.Result, error)
}

// forges are the publishers --github and --gitlab ask for, resolved from
// CI's environment before anything is submitted, so a missing token fails
// the job at once (exit 2).
type forges struct {
	pubs  []publisher
	names []string
}

func newForges(o *gateOptions) (*forges, error) {
	var f forges
	if o.forge.github {
		g, err := gitHubFromEnv(o)
		if err != nil {
			return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("--github: %w", err)}
		}
		f.pubs, f.names = append(f.pubs, g), append(f.names, "GitHub")
	}
	if o.forge.gitlab {
		g, err := gitLabFromEnv(o)
		if err != nil {
			return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("--gitlab: %w", err)}
		}
		f.pubs, f.names = append(f.pubs, g), append(f.names, "GitLab")
	}
	return &f, nil
}

// publish sends the verdict to the forges; a failure is exit 2.
func (f *forges) publish(cmd *cobra.Command, o *gateOptions, res *GateResult) error {
	if len(f.pubs) == 0 {
		return nil
	}
	p, err := publication(cmd.Context(), o, res)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	for i, pub := range f.pubs {
		r, err := pub.Publish(cmd.Context(), p)
		if err != nil {
			return &ExitError{Code: ExitUsage, Err: err}
		}
		verb := "updated"
		if r.CommentCreated {
			verb = "created"
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: comment %d %s, check %d", f.names[i], r.CommentID, verb, r.CheckID)
		if r.SARIFID != "" {
			fmt.Fprintf(cmd.ErrOrStderr(), ", SARIF upload %s", r.SARIFID)
		}
		fmt.Fprintln(cmd.ErrOrStderr())
	}
	return nil
}

// publication renders the verdict, fetching the base branch's gate for the delta.
func publication(ctx context.Context, o *gateOptions, res *GateResult) (forge.Publication, error) {
	var base *scorecard.Scorecard
	if res.lensCard != nil && o.sub.BaseBranch != "" {
		c := scorerClient{URL: o.scorerURL, Token: o.sub.Token, Tenant: o.sub.Tenant, Timeout: time.Minute}
		q := url.Values{"limit": {"1000"}, "on_unknown": {o.onUnknown}, "branch": {o.sub.BaseBranch}}
		for k, v := range map[string]string{"repo": o.sub.Repo, "service": o.sub.Service} {
			if v != "" {
				q.Set(k, v)
			}
		}
		base = &scorecard.Scorecard{}
		if err := c.call(ctx, http.MethodGet, "/v1/gate", q, nil, base); err != nil {
			return forge.Publication{}, fmt.Errorf("the base branch's gate: %w", err)
		}
	}
	var findings []scan.Finding
	for _, f := range res.Findings {
		findings = append(findings, f.Finding)
	}
	log, err := forge.SARIF(findings)
	if err != nil {
		return forge.Publication{}, err
	}
	page := strings.TrimRight(cmpOr(o.forge.pageURL, o.sub.URL), "/")
	if o.sub.Service != "" {
		page += "/service/" + url.PathEscape(o.sub.Service)
	}
	return forge.Publication{Service: o.sub.Service, Pass: res.Pass, Title: verdictLine(res), DetailsURL: page,
		Body: deltaMarkdown(o, res, base, page), SARIF: log}, nil
}

// gitHubEvent is the part of GITHUB_EVENT_PATH's payload the gate reads.
type gitHubEvent struct {
	Number      int `json:"number"`
	PullRequest *struct {
		Number int `json:"number"`
		Head   struct {
			SHA string `json:"sha"`
		} `json:"head"`
	} `json:"pull_request"`
}

func gitHubFromEnv(o *gateOptions) (*forge.GitHub, error) {
	token := os.Getenv("GITHUB_TOKEN")
	if token == "" {
		return nil, errors.New("GITHUB_TOKEN is empty: pass it to the step (env: GITHUB_TOKEN: ${{ github.token }})")
	}
	owner, repo, ok := strings.Cut(os.Getenv("GITHUB_REPOSITORY"), "/")
	if !ok {
		return nil, fmt.Errorf("GITHUB_REPOSITORY %q: want owner/name", os.Getenv("GITHUB_REPOSITORY"))
	}
	g := &forge.GitHub{Owner: owner, Repo: repo, PR: o.forge.pr, HeadSHA: o.forge.headSHA, CheckName: o.forge.checkName, Ref: os.Getenv("GITHUB_REF")}
	if path := os.Getenv("GITHUB_EVENT_PATH"); path != "" {
		data, err := readEventFile(path)
		if err != nil {
			return nil, fmt.Errorf("GITHUB_EVENT_PATH: %w", err)
		}
		var ev gitHubEvent
		if err := json.Unmarshal(data, &ev); err != nil {
			return nil, fmt.Errorf("GITHUB_EVENT_PATH %s: %w", path, err)
		}
		if ev.PullRequest != nil {
			g.PR = cmpInt(g.PR, ev.PullRequest.Number)
			g.HeadSHA = cmpOr(g.HeadSHA, ev.PullRequest.Head.SHA)
		}
	}
	g.HeadSHA = cmpOr(g.HeadSHA, os.Getenv("GITHUB_SHA"))
	if g.HeadSHA == "" {
		return nil, errors.New("no commit for the check: give --head-sha (or GITHUB_SHA)")
	}
	if g.PR > 0 {
		g.Ref = "refs/pull/" + strconv.Itoa(g.PR) + "/head"
	}
	if g.Ref == "" {
		return nil, errors.New("no ref for the analysis: GITHUB_REF is empty and no pull request is known")
	}
	c, err := forge.NewGitHubClient(os.Getenv("GITHUB_API_URL"), token, &http.Client{Timeout: time.Minute})
	if err != nil {
		return nil, err
	}
	g.Client = c
	return g, nil
}

// readEventFile reads the runner's event payload, a JSON file in its
// temporary directory, opened within that directory and size-bounded.
func readEventFile(path string) ([]byte, error) {
	f, err := os.OpenInRoot(filepath.Dir(path), filepath.Base(path))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 32<<20))
}

func gitLabFromEnv(o *gateOptions) (*forge.GitLab, error) {
	token := os.Getenv("GITLAB_TOKEN")
	if token == "" {
		return nil, errors.New("GITLAB_TOKEN is empty: add a project access token with the api scope as a masked CI/CD variable")
	}
	g := &forge.GitLab{Project: os.Getenv("CI_PROJECT_ID"), MR: int64(o.forge.pr), SHA: cmpOr(o.forge.headSHA, os.Getenv("CI_COMMIT_SHA")), StatusName: o.forge.checkName}
	if g.MR == 0 && os.Getenv("CI_MERGE_REQUEST_IID") != "" {
		iid, err := strconv.ParseInt(os.Getenv("CI_MERGE_REQUEST_IID"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("CI_MERGE_REQUEST_IID %q: want a number", os.Getenv("CI_MERGE_REQUEST_IID"))
		}
		g.MR = iid
	}
	if g.Project == "" || g.SHA == "" {
		return nil, errors.New("CI_PROJECT_ID and CI_COMMIT_SHA (or --head-sha) are needed")
	}
	apiURL := cmpOr(os.Getenv("CI_API_V4_URL"), "https://gitlab.com/api/v4")
	c, err := forge.NewGitLabClient(apiURL, token, &http.Client{Timeout: time.Minute})
	if err != nil {
		return nil, err
	}
	g.Client = c
	return g, nil
}

func cmpInt(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}
