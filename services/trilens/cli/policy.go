package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/trilens/trilens/pkg/policy"
)

func newPolicyCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Work with the budgets-as-code policy (trilens.yaml)"}
	cmd.AddCommand(&cobra.Command{
		Use:     "validate FILE",
		Short:   "Check a policy file; every error names its line and key path",
		Example: "  trilens policy validate trilens.yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := policy.Load(args[0])
			if err != nil {
				return &ExitError{Code: ExitBroken, Err: err}
			}
			for _, w := range p.Warnings(time.Now()) {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid\n", args[0])
			return nil
		},
	})
	return cmd
}
