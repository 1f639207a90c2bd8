package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/trilens/trilens/services/scancollector"
)

// newSubmitScanCommand is `trilens submit scan FILE...`.
func newSubmitScanCommand() *cobra.Command {
	var s Submitter
	var sc ScanScope
	var format string
	cmd := &cobra.Command{
		Use:   "scan FILE...",
		Short: "Send security scanner reports (SARIF, Trivy, Grype, gitleaks, govulncheck, ZAP)",
		Long: `scan sends scanner reports to the scan collector (POST /v1/scans),
gzip-compressed and streamed, with progress for large files. The format is
detected from the content unless --format names it: SARIF 2.1.0 from any
tool, Trivy JSON, Grype JSON, gitleaks JSON, govulncheck -json or OWASP ZAP
JSON. Each accepted report's id is printed; "trilens gate" waits for them.

A report replaces the state of its tool's findings in what it covered, so
reports of one tool over different parts (gosec per Go module, Trivy per
image) must say which part: SARIF's automationDetails.id, Trivy's artifact
and govulncheck's module say it themselves; otherwise --scope-root,
--scope-language and --scope-target do (--scope-root=@dir: the directory
of each report file).`,
		Example: `  gosec -fmt sarif -out gosec.sarif ./...
  trilens submit scan --repo acme/shop --commit $SHA --branch feature-x --base-branch main gosec.sarif trivy.json
  for m in pkg services/api; do (cd $m && gosec -fmt sarif -out gosec.sarif ./...); done
  trilens submit scan --scope-root=@dir pkg/gosec.sarif services/api/gosec.sarif`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			if format != "" {
				s.Params = url.Values{"format": {format}}
			}
			for _, f := range files {
				acc, err := submitScan(cmd.Context(), &s, sc, f, cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				if s.Quiet {
					fmt.Fprintln(cmd.OutOrStdout(), acc.ReportID)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s report %s from %s: %d findings in %d events %s\n",
					f, acc.Format, acc.ReportID, strings.Join(acc.Tools, ", "), acc.Rows, acc.Events, severities(acc.Severities))
			}
			return nil
		},
	}
	s.Register(cmd)
	sc.Register(cmd)
	cmd.Flags().StringVar(&format, "format", "", "sarif, trivy, grype, gitleaks, govulncheck or zap (default: detected)")
	return cmd
}

// ScanScope is what scan reports covered, for tools that do not say.
type ScanScope struct{ Root, Language, Target string }

// Register binds the scope flags.
func (sc *ScanScope) Register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&sc.Root, "scope-root", "", "module or directory the reports cover (@dir: the directory of each report file)")
	f.StringVar(&sc.Language, "scope-language", "", "language the reports analysed (per-language runs)")
	f.StringVar(&sc.Target, "scope-target", "", "image, file system or site the reports scanned")
}

// params adds file's scope to the query parameters base.
func (sc ScanScope) params(base url.Values, file string) (url.Values, error) {
	q := url.Values{}
	for k, v := range base {
		q[k] = v
	}
	root := sc.Root
	if root == "@dir" {
		abs, err := filepath.Abs(filepath.Dir(file))
		if err != nil {
			return nil, err
		}
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		if root, err = filepath.Rel(wd, abs); err != nil {
			return nil, fmt.Errorf("--scope-root=@dir: %s: %w", file, err)
		}
		root = filepath.ToSlash(root)
	}
	for k, v := range map[string]string{"scope_root": root, "scope_language": sc.Language, "scope_target": sc.Target} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q, nil
}

func submitScan(ctx context.Context, s *Submitter, sc ScanScope, file string, progress io.Writer) (*scancollector.Accepted, error) {
	sub := *s
	var err error
	if sub.Params, err = sc.params(s.Params, file); err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: err}
	}
	var acc scancollector.Accepted
	if err := sub.Post(ctx, "/v1/scans", file, progress, &acc); err != nil {
		return nil, err
	}
	return &acc, nil
}

// severities prints counts worst first: (2 critical, 5 high).
func severities(m map[string]int) string {
	var parts []string
	for _, s := range []string{"critical", "high", "medium", "low", "info", "unspecified"} {
		if m[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[s], s))
		}
	}
	if len(parts) == 0 {
		return "(none)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// newScanCommand is `trilens scan`: the security lens's own commands.
func newScanCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "scan", Short: "Security lens: exploit catalogues"}
	var scorerURL string
	load := &cobra.Command{
		Use:   "catalog kev|epss FILE",
		Short: "Load an offline exploit catalogue (CISA KEV JSON or an EPSS CSV) into the scorer",
		Long: `catalog loads an exploit catalogue the scorer uses to flag findings: CISA's
Known Exploited Vulnerabilities JSON (known_exploited_vulnerabilities.json)
or FIRST's EPSS scores CSV (epss_scores-YYYY-MM-DD.csv, gunzipped). Loading a
newer copy replaces the older one; the gate's KEV budget counts from the
later of a finding's first sighting and its KEV date.`,
		Example: `  trilens scan catalog kev known_exploited_vulnerabilities.json
  trilens scan catalog epss epss_scores-2026-11-20.csv`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, file := args[0], args[1]
			if kind != "kev" && kind != "epss" {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("catalogue %q: want kev or epss", kind)}
			}
			f, err := os.Open(file)
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			defer f.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(scorerURL, "/")+"/v1/scan/catalogs/"+kind, f)
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("scorer at %s unreachable: %w", scorerURL, err)}
			}
			defer resp.Body.Close()
			var out struct {
				Loaded int    `json:"loaded"`
				Error  string `json:"error"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&out)
			if resp.StatusCode != http.StatusOK {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s: scorer answered %s: %s", file, resp.Status, out.Error)}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d %s entries loaded\n", file, out.Loaded, strings.ToUpper(kind))
			return nil
		},
	}
	load.Flags().StringVar(&scorerURL, "url", env("TRILENS_URL", "http://127.0.0.1:7070"), "base URL of the scorer API")
	cmd.AddCommand(load)
	return cmd
}
