package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/trilens/trilens/services/scorer/api"
	"github.com/trilens/trilens/services/scorer/ledger"
)

type waiveOptions struct {
	client  scorerClient
	req     api.WaiverRequest
	expires string
	forDur  string
}

// newWaiveCommand is `trilens waive TARGET`.
func newWaiveCommand() *cobra.Command {
	var o waiveOptions
	cmd := &cobra.Command{
		Use:   "waive TARGET",
		Short: "Accept a finding or a KPI breach until a date, in the risk ledger",
		Long: `waive records a waiver in the scorer's risk ledger. TARGET is a finding's
fingerprint or a KPI name (journey_p95_ms, load_headroom, ...); --scope
limits a KPI waiver to one journey, service, load test, URL or artifact.
A waiver needs an owner, a reason and an expiry; when it expires, what it
covered counts again by itself and a verdict says so. Waiving the same
--id again changes it; every change is kept (trilens waivers).`,
		Example: `  trilens waive journey_p95_ms --scope checkout --owner team-payments \
    --reason "CDN migration" --control "autoscaling raised" --for 14d`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.req.Target = args[0]
			exp, err := expiry(o.expires, o.forDur, time.Now())
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			o.req.ExpiresAt = exp
			var w ledger.Waiver
			if err := o.client.call(cmd.Context(), http.MethodPost, "/v1/waivers", nil, &o.req, &w); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "waiver %s %s: %s", w.ID, w.LastChange, w.Target)
			if w.Scope != "" {
				fmt.Fprintf(cmd.OutOrStdout(), " in %s", w.Scope)
			}
			fmt.Fprintf(cmd.OutOrStdout(), ", owner %s, until %s\n", w.Owner, w.ExpiresAt.Format(time.RFC3339))
			return nil
		},
	}
	o.client.register(cmd)
	f := cmd.Flags()
	f.StringVar(&o.req.ID, "id", "", "waiver id (default: generated; an existing id is changed)")
	f.StringVar(&o.req.Scope, "scope", "", "journey, service, test, URL or artifact the waiver is limited to")
	f.StringVar(&o.req.Lens, "lens", "", "lens: performance, security or scalability (default: from the target)")
	f.StringVar(&o.req.Owner, "owner", "", "team accountable for the accepted risk (required)")
	f.StringVar(&o.req.Reason, "reason", "", "why the risk is accepted (required)")
	f.StringVar(&o.req.CompensatingControl, "control", "", "compensating control in place meanwhile")
	f.StringVar(&o.expires, "expires", "", "expiry: RFC 3339 time or YYYY-MM-DD (UTC midnight)")
	f.StringVar(&o.forDur, "for", "", "expiry as a duration from now: 14d, 36h")
	f.StringVar(&o.req.By, "by", os.Getenv("USER"), "who makes the change")
	return cmd
}

// expiry reads --expires or --for; exactly one is required.
func expiry(at, forDur string, now time.Time) (time.Time, error) {
	switch {
	case at != "" && forDur != "":
		return time.Time{}, errors.New("give --expires or --for, not both")
	case forDur != "":
		d, err := api.ParseSince(forDur)
		if err != nil {
			return time.Time{}, fmt.Errorf("--for: %w", err)
		}
		return now.Add(d).UTC().Truncate(time.Second), nil
	case at != "":
		for _, layout := range []string{time.RFC3339, time.DateOnly} {
			if t, err := time.Parse(layout, at); err == nil {
				return t.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("--expires %q: want an RFC 3339 time or YYYY-MM-DD", at)
	}
	return time.Time{}, errors.New("a waiver needs an expiry: --expires or --for")
}

// newWaiversCommand is `trilens waivers`.
func newWaiversCommand() *cobra.Command {
	var client scorerClient
	var format, revoke, by string
	cmd := &cobra.Command{
		Use:   "waivers",
		Short: "List the risk ledger's waivers, or revoke one",
		Long: `waivers lists every waiver of the tenant, from the policy file and from
"trilens waive", with its state (active, pending, expired, revoked) and its last
change. --revoke ID ends a ledger waiver now.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains([]string{"table", "json"}, format) {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--format %q: want table or json", format)}
			}
			out := cmd.OutOrStdout()
			if revoke != "" {
				var w ledger.Waiver
				if err := client.call(cmd.Context(), http.MethodDelete, "/v1/waivers/"+url.PathEscape(revoke), url.Values{"by": {by}}, nil, &w); err != nil {
					return err
				}
				fmt.Fprintf(out, "waiver %s revoked\n", w.ID)
				return nil
			}
			var list struct{ Waivers []ledger.Waiver }
			if err := client.call(cmd.Context(), http.MethodGet, "/v1/waivers", nil, nil, &list); err != nil {
				return err
			}
			if format == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(list.Waivers)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tSOURCE\tTARGET\tSCOPE\tOWNER\tEXPIRES\tLAST CHANGE\tREASON\tCONTROL")
			for _, w := range list.Waivers {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", w.ID, w.State, w.Source, w.Target, w.Scope, w.Owner,
					w.ExpiresAt.Format(time.RFC3339), w.LastChange, w.Reason, w.CompensatingControl)
			}
			return tw.Flush()
		},
	}
	client.register(cmd)
	cmd.Flags().StringVar(&format, "format", "table", "output: table or json")
	cmd.Flags().StringVar(&revoke, "revoke", "", "revoke the ledger waiver with this id")
	cmd.Flags().StringVar(&by, "by", os.Getenv("USER"), "who revokes")
	return cmd
}
