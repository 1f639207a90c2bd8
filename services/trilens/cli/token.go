package cli

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/trilens/trilens/pkg/collect"
	"go.yaml.in/yaml/v3"
)

func newTokenCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Make bearer tokens for auth.tokens"}
	var tok collect.Token
	newCmd := &cobra.Command{
		Use:   "new",
		Short: "Print a new random token once, and the auth.tokens entry (its SHA-256) to configure",
		Long: `new makes a 256-bit random token. The token itself is printed once, on
standard error, for the holder (a CI secret, a person); standard output gets
the auth.tokens entry for the Trilens configuration, which keeps only the
token's SHA-256, so the configuration file reveals no token.

Roles: ingest submits evidence and reads its own gate (CI); read sees the
scorecard, findings, verdicts, report and page; admin also manages waivers
and policy of its tenant; system is an operator's token for every tenant and
the global KEV and EPSS catalogues; metrics (no tenant) scrapes /metrics when
auth.metrics_token closes it, and nothing else.`,
		Example: `  trilens token new --id ci-shop --tenant shop --role ingest >> auth.yaml 2> token.txt`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw := make([]byte, 32)
			if _, err := rand.Read(raw); err != nil {
				return err
			}
			value := "trl_" + base64.RawURLEncoding.EncodeToString(raw)
			t := tok
			t.SHA256 = collect.HashToken(value)
			if err := t.Validate(); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			out, err := yaml.Marshal([]collect.Token{t})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "token for %s (shown once): %s\n", t.ID, value)
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	f := newCmd.Flags()
	f.StringVar(&tok.ID, "id", "", "who holds the token (recorded on waivers and in logs)")
	f.StringVar(&tok.Tenant, "tenant", "", "tenant the token acts for (empty for a system or metrics token)")
	f.StringVar((*string)(&tok.Role), "role", string(collect.RoleIngest), "ingest, read, admin, system or metrics")
	cmd.AddCommand(newCmd)
	return cmd
}
