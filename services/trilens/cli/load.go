package cli

import (
	"fmt"
	"net/url"

	"github.com/spf13/cobra"
)

// loadResponse is the load collector's answer to an accepted document.
type loadResponse struct {
	ReportID string `json:"report_id"`
	Format   string `json:"format"`
	Events   int    `json:"events"`
	Rows     int    `json:"rows"`
	Samples  int64  `json:"samples"`
	Bytes    int64  `json:"bytes"`
}

// newLoadSubmitCommands are `trilens submit load` and `trilens submit webvitals`.
func newLoadSubmitCommands() []*cobra.Command {
	return []*cobra.Command{newSubmitLoadCommand(), newSubmitWebVitalsCommand()}
}

func newSubmitLoadCommand() *cobra.Command {
	var s Submitter
	var test, format string
	cmd := &cobra.Command{
		Use:   "load FILE...",
		Short: "Send k6 results (--summary-export, handleSummary JSON or --out json NDJSON)",
		Long: `load sends k6 results to the load collector (POST /v1/loadruns): the
--summary-export file, the JSON a handleSummary writes, or the --out json
NDJSON stream (streamed and gzip-compressed, any size). The format is
detected unless --format names it.

Regressions compare a run with earlier successful runs of the same --test on
the base branch, so name the test the same way in every pipeline.`,
		Example: `  k6 run --summary-export=summary.json --out json=run.ndjson checkout.js
  trilens submit load --test checkout --service checkout-api run.ndjson`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			s.Params = url.Values{}
			if test != "" {
				s.Params.Set("test", test)
			}
			if format != "" {
				s.Params.Set("format", format)
			}
			return submitEach(cmd, &s, "/v1/loadruns", files)
		},
	}
	s.Register(cmd)
	cmd.Flags().StringVar(&test, "test", "", "load-test name baselines are kept under (default: the journey, else the k6 scenarios)")
	cmd.Flags().StringVar(&format, "format", "", "k6-summary-export, k6-handle-summary or k6-ndjson (default: detected)")
	return cmd
}

func newSubmitWebVitalsCommand() *cobra.Command {
	var s Submitter
	cmd := &cobra.Command{
		Use:   "webvitals FILE...",
		Short: "Send Lighthouse JSON reports (the median run of each URL is kept)",
		Long: `webvitals sends Lighthouse JSON reports to the load collector (POST
/v1/webvitals). A file may hold one report, a JSON array of reports or several
reports one after another; the collector keeps the median run of each URL, as
Lighthouse CI does. Give several runs of a page in one file (cat run*.json)
for a stable median: files are judged one by one.`,
		Example: `  lighthouse http://localhost:8080/ --output=json --output-path=run1.json ...
  cat run*.json > runs.json && trilens submit webvitals --journey checkout runs.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			return submitEach(cmd, &s, "/v1/webvitals", files)
		},
	}
	s.Register(cmd)
	return cmd
}

// submitEach posts every file and prints one line per accepted document.
func submitEach(cmd *cobra.Command, s *Submitter, path string, files []string) error {
	for _, f := range files {
		var r loadResponse
		if err := s.Post(cmd.Context(), path, f, cmd.ErrOrStderr(), &r); err != nil {
			return err
		}
		if !s.Quiet {
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s accepted as report %.12s: %d events, %d rows from %d samples (%d bytes)\n",
				f, r.Format, r.ReportID, r.Events, r.Rows, r.Samples, r.Bytes)
		}
	}
	return nil
}
