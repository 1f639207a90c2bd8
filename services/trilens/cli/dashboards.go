package cli

import (
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/services/trilens/dashboards"
)

// envGrafanaToken is read when --token is not given, so the token stays out
// of shell history and CI logs.
const envGrafanaToken = "TRILENS_GRAFANA_TOKEN"

func newDashboardsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "dashboards", Short: "Generate Grafana dashboards and alert rules, or push them to a Grafana"}
	var policyPath, out string
	generate := &cobra.Command{
		Use:   "generate",
		Short: "Write the dashboards (dashboards/*.json) and the alert provisioning file from code and the policy",
		Long: `Writes dashboards/*.json and deploy/grafana/provisioning/alerting/trilens.yaml
under --out (the repository root). The committed files must equal what this
writes; a test in services/trilens/dashboards checks it.`,
		Example: "  trilens dashboards generate --policy trilens.yaml --out .",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := policy.Load(policyPath)
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			files, err := dashboards.Files(p)
			if err != nil {
				return err
			}
			if err := dashboards.Write(out, files); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d files under %s\n", len(files), out)
			return nil
		},
	}
	generate.Flags().StringVar(&policyPath, "policy", "trilens.yaml", "policy the alert rules are derived from")
	generate.Flags().StringVar(&out, "out", ".", "repository root to write under")

	var grafanaURL, token, pushPolicy string
	var timeout time.Duration
	push := &cobra.Command{
		Use:   "push",
		Short: "Upload every dashboard and alert rule into the tenant's folder of a Grafana",
		Long: `Creates the folder of the policy's tenant when missing and creates or replaces
every dashboard and alert rule in it through the Grafana HTTP API. The token is
a service account token (or user:password); it defaults to $` + envGrafanaToken + `.`,
		Example: "  trilens dashboards push --grafana-url http://localhost:3000 --token $GRAFANA_TOKEN",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if token == "" {
				token = os.Getenv(envGrafanaToken)
			}
			p, err := policy.Load(pushPolicy)
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			g, err := dashboards.NewGrafana(grafanaURL, token, &http.Client{Timeout: timeout})
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			res, err := g.Push(cmd.Context(), p)
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pushed %d dashboards and %d alert rules into folder %s\n", len(res.Dashboards), len(res.Rules), res.Folder)
			return nil
		},
	}
	push.Flags().StringVar(&grafanaURL, "grafana-url", "http://localhost:3000", "Grafana base URL")
	push.Flags().StringVar(&token, "token", "", "Grafana service account token, or user:password (default $"+envGrafanaToken+")")
	push.Flags().StringVar(&pushPolicy, "policy", "trilens.yaml", "policy naming the tenant and the alert rules")
	push.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "timeout of each API request")
	cmd.AddCommand(generate, push)
	return cmd
}
