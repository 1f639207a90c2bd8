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
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/spf13/cobra"
	"github.com/trilens/trilens/services/changecollector"
)

// newSubmitCommand is the parent of `trilens submit <kind> FILE...`; each
// lens adds its kinds.
func newSubmitCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "submit",
		Short: "Send evidence files to the collectors",
		Long: `submit sends evidence files (scan reports, SBOMs, attestations, load-test and
Lighthouse results) to the collectors, gzip-compressed, with the subject of
the evidence: repository, commit, branch, pipeline run, environment, service.

Defaults come from the environment: TRILENS_URL, TRILENS_TOKEN, TRILENS_TENANT,
and in GitHub Actions GITHUB_REPOSITORY, GITHUB_SHA, GITHUB_REF_NAME,
GITHUB_BASE_REF and GITHUB_RUN_ID.`,
	}
	cmd.AddCommand(newLoadSubmitCommands()...)
	cmd.AddCommand(newSubmitScanCommand())
	cmd.AddCommand(newSubmitSBOMCommands()...)
	cmd.AddCommand(newSubmitChangeCommand())
	return cmd
}

// newSubmitChangeCommand is `trilens submit change FILE...`.
func newSubmitChangeCommand() *cobra.Command {
	var s Submitter
	var format string
	cmd := &cobra.Command{
		Use:   "change FILE...",
		Short: "Send CI runs, deploys, rollbacks and incidents (generic JSON, Alertmanager, CDEvents)",
		Long: `change sends change events to the change collector (POST /v1/changes): the
generic JSON shape (one change, or {"changes": [...]}), an Alertmanager
notification or a CDEvents CloudEvent in structured mode; --format names the
shape when detection should not decide. The environment of each change comes
from the file unless --env names it. Each published change's event id is printed.`,
		Example: `  echo '{"id":"'$GITHUB_RUN_ID'","type":"deploy","status":"success","environment":"production",
        "commits":[{"sha":"'$GITHUB_SHA'"}],"finished_at":"'$(date -u +%FT%TZ)'"}' > deploy.json
  trilens submit change --service checkout-api deploy.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			if format != "" {
				s.Params = url.Values{"format": {format}}
			}
			for _, f := range files {
				var acc changecollector.Accepted
				if err := s.Post(cmd.Context(), "/v1/changes", f, cmd.ErrOrStderr(), &acc); err != nil {
					return err
				}
				for _, c := range acc.Changes {
					if s.Quiet {
						fmt.Fprintln(cmd.OutOrStdout(), c.EventID)
						continue
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s: %s %s %s %s (event %s)\n", f, acc.Format, c.Type, c.ID, c.Status, c.EventID)
				}
				if acc.Ignored != "" && !s.Quiet {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: ignored: %s\n", f, acc.Ignored)
				}
			}
			return nil
		},
	}
	s.Register(cmd)
	// A change's environment is its own (a deploy to production), not CI's.
	env := cmd.Flags().Lookup("env")
	env.DefValue = ""
	_ = env.Value.Set("")
	cmd.Flags().StringVar(&format, "format", "", "generic, alertmanager or cloudevents (default: detected)")
	return cmd
}

// Submitter posts evidence files to a collector with the subject of the evidence.
type Submitter struct {
	URL, Token, Tenant                         string
	Repo, Commit, Branch, BaseBranch, Pipeline string
	Env, Service, Journey, Release             string
	Timeout                                    time.Duration
	Quiet                                      bool
	// Params are further query parameters a kind of evidence takes (the load
	// collector's test and format).
	Params url.Values
}

// Register binds the submit flags, defaulting from the environment.
func (s *Submitter) Register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.URL, "url", env("TRILENS_URL", "http://127.0.0.1:7070"), "base URL of the collectors")
	f.StringVar(&s.Token, "token", os.Getenv("TRILENS_TOKEN"), "bearer token of the tenant (TRILENS_TOKEN)")
	f.StringVar(&s.Tenant, "tenant", env("TRILENS_TENANT", ""), "tenant when the collectors run without tokens")
	f.StringVar(&s.Repo, "repo", os.Getenv("GITHUB_REPOSITORY"), "repository the evidence is about")
	f.StringVar(&s.Commit, "commit", os.Getenv("GITHUB_SHA"), "commit the evidence is about")
	f.StringVar(&s.Branch, "branch", os.Getenv("GITHUB_REF_NAME"), "branch of the commit")
	f.StringVar(&s.BaseBranch, "base-branch", os.Getenv("GITHUB_BASE_REF"), "branch the change merges into (the baseline)")
	f.StringVar(&s.Pipeline, "pipeline-run", os.Getenv("GITHUB_RUN_ID"), "CI pipeline run id")
	f.StringVar(&s.Env, "env", "ci", "environment: ci, staging or production")
	f.StringVar(&s.Service, "service", "", "service the evidence is about")
	f.StringVar(&s.Journey, "journey", "", "user journey the evidence is about")
	f.StringVar(&s.Release, "release", "", "release or version")
	f.DurationVar(&s.Timeout, "timeout", 10*time.Minute, "bound of one upload")
	f.BoolVar(&s.Quiet, "quiet", false, "no progress output")
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// query is the subject as collector query parameters.
func (s *Submitter) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{
		"tenant": s.Tenant, "repo": s.Repo, "commit": s.Commit, "branch": s.Branch, "base_branch": s.BaseBranch,
		"pipeline_run": s.Pipeline, "env": s.Env, "service": s.Service, "journey": s.Journey, "release": s.Release,
	} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for k, vs := range s.Params {
		q[k] = vs
	}
	return q
}

// Post sends one file to path (for example /v1/scans), gzip-compressed on
// the fly, and decodes the collector's JSON answer into out. A collector
// that cannot be reached, or answers with an error, gives an error naming
// the file and what the collector said; progress goes to progress.
func (s *Submitter) Post(ctx context.Context, path, file string, progress io.Writer, out any) error {
	f, err := os.Open(file)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	q := s.query()
	q.Set("name", filepath.Base(file))
	u := strings.TrimRight(s.URL, "/") + path + "?" + q.Encode()
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()

	var src io.Reader = f
	if !s.Quiet && progress != nil && info.Size() > 8<<20 {
		src = &progressReader{r: f, total: info.Size(), w: progress, name: filepath.Base(file)}
	}
	// A file already gzip-compressed (k6 --out json=run.gz) goes as it is.
	var magic [2]byte
	n, _ := f.ReadAt(magic[:], 0)
	gzipped := n == 2 && magic[0] == 0x1f && magic[1] == 0x8b
	pr, pw := io.Pipe()
	go func() {
		var err error
		if gzipped {
			_, err = io.Copy(pw, src)
		} else {
			// The fastest level: compressing runs in line with the upload and
			// the collector's decode, so it should never be the slow step.
			zw, _ := gzip.NewWriterLevel(pw, gzip.BestSpeed) // a valid level: no error
			if _, err = io.Copy(zw, src); err == nil {
				err = zw.Close()
			}
		}
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, pr)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Content-Type", "application/octet-stream")
	if s.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s: collector at %s unreachable: %w", file, s.URL, err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
			Field string `json:"field"`
		}
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			msg = e.Error
			if e.Field != "" {
				msg = e.Field + ": " + msg
			}
		}
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s: collector answered %s: %s", file, resp.Status, msg)}
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return &ExitError{Code: ExitUsage, Err: errors.Join(fmt.Errorf("%s: unreadable collector answer", file), err)}
		}
	}
	return nil
}

// progressReader prints how much of a large file was sent, every 5%.
type progressReader struct {
	r     io.Reader
	w     io.Writer
	name  string
	total int64
	done  int64
	last  int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if pct := p.done * 100 / p.total; pct >= p.last+5 || err == io.EOF {
		p.last = pct
		fmt.Fprintf(p.w, "\r%s: %d%% of %d MB sent", p.name, pct, p.total>>20)
		if err == io.EOF {
			fmt.Fprintln(p.w)
		}
	}
	return n, err
}
