package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"

	"github.com/spf13/cobra"
	"github.com/trilens/trilens/services/scorer/ledger"
)

// newVEXCommand is `trilens vex`: the risk ledger's vulnerability waivers
// as VEX documents, out and in.
func newVEXCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vex",
		Short: "Export the ledger's vulnerability waivers as VEX, or import a supplier's VEX",
	}
	cmd.AddCommand(newVEXExportCommand(), newVEXImportCommand())
	return cmd
}

func newVEXExportCommand() *cobra.Command {
	var client scorerClient
	var format, author, out string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the tenant's vulnerability waivers and fixes as an OpenVEX or CycloneDX VEX document",
		Long: `export asks the scorer for the tenant's active waivers of vulnerability
findings and writes them as one VEX document: each is a not_affected
statement on the vulnerability, in the package (a purl), in the service it
is limited to, with its reason as justification and impact statement.

Vulnerabilities the ledger has fixed on every branch of a service that had
them are fixed statements (CycloneDX: resolved) for that service, dated when
the last branch fixed them, with the vulnerable and the fix version in the
notes. Importing a document turns only not_affected statements into waivers.`,
		Example: `  trilens vex export --tenant acme --format cyclonedx -o acme.cdx.json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var doc json.RawMessage
			q := url.Values{"format": {format}}
			if author != "" {
				q.Set("author", author)
			}
			if err := client.call(cmd.Context(), http.MethodGet, "/v1/vex", q, nil, &doc); err != nil {
				return err
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, doc, "", "  "); err != nil {
				return err
			}
			pretty.WriteByte('\n')
			if out == "" || out == "-" {
				_, err := cmd.OutOrStdout().Write(pretty.Bytes())
				return err
			}
			return os.WriteFile(out, pretty.Bytes(), 0o644)
		},
	}
	client.register(cmd)
	f := cmd.Flags()
	f.StringVar(&format, "format", "openvex", "document format: openvex or cyclonedx")
	f.StringVar(&author, "author", "", "author named in the document (default: the tenant)")
	f.StringVarP(&out, "output", "o", "", "file to write (default: standard output)")
	return cmd
}

func newVEXImportCommand() *cobra.Command {
	var client scorerClient
	q := map[string]*string{"scope": new(string), "owner": new(string), "for": new(string), "expires": new(string)}
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Record a VEX document's not_affected statements as waivers (OpenVEX or CycloneDX JSON)",
		Long: `import sends the document to the scorer (POST /v1/vex, admin role): every
not_affected statement becomes a waiver with its justification as reason,
until --expires or for --for (default 90d). Importing the same document
again changes nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			if !json.Valid(data) {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s: not JSON", args[0])}
			}
			params := url.Values{}
			for k, v := range q {
				if *v != "" {
					params.Set(k, *v)
				}
			}
			var res struct {
				Statements int             `json:"statements"`
				Recorded   []ledger.Waiver `json:"recorded"`
			}
			if err := client.call(cmd.Context(), http.MethodPost, "/v1/vex", params, json.RawMessage(data), &res); err != nil {
				return err
			}
			for _, w := range res.Recorded {
				fmt.Fprintf(cmd.OutOrStdout(), "waiver %s %s: %s %s\n", w.ID, w.LastChange, w.Target, w.Scope)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d not_affected statements, %d waivers recorded\n", res.Statements, len(res.Recorded))
			return nil
		},
	}
	client.register(cmd)
	f := cmd.Flags()
	f.StringVar(q["scope"], "scope", "", "service the waivers are limited to (default: the product each statement names)")
	f.StringVar(q["owner"], "owner", "", "owner of the waivers (default: the document's author)")
	f.StringVar(q["for"], "for", "", "term of the waivers: 90d, 36h (default 90d)")
	f.StringVar(q["expires"], "expires", "", "expiry of the waivers, RFC 3339")
	return cmd
}
