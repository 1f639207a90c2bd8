package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/trilens/trilens/services/scorer/advisories"
)

// newComponentsCommand is `trilens components`.
func newComponentsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "components",
		Short: "The components of the stored SBOMs",
	}
	cmd.AddCommand(newWhoUsesCommand())
	return cmd
}

func newWhoUsesCommand() *cobra.Command {
	var client scorerClient
	var format string
	cmd := &cobra.Command{
		Use:   "who-uses PURL",
		Short: "Which services and releases contain a package (a version, or every version when the purl names none)",
		Example: `  trilens components who-uses pkg:golang/golang.org/x/net@v0.3.0
  trilens components who-uses pkg:npm/lodash`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var res struct {
				Uses []advisories.Use `json:"uses"`
			}
			if err := client.call(cmd.Context(), http.MethodGet, "/v1/components/who-uses", url.Values{"purl": {args[0]}}, nil, &res); err != nil {
				return err
			}
			if format == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res.Uses)
			}
			if len(res.Uses) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "no stored SBOM contains %s\n", args[0])
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REPOSITORY\tSERVICE\tBRANCH\tCOMMIT\tENVIRONMENT\tVERSION\tLAST SEEN")
			for _, u := range res.Uses {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Repository, u.Service, u.Branch, u.Commit, u.Environment,
					u.Version, u.LastSeen.UTC().Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
	client.register(cmd)
	cmd.Flags().StringVar(&format, "format", "table", "output: table or json")
	return cmd
}
