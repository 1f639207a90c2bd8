package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/services/scorer"
	"github.com/trilens/trilens/services/scorer/api"
)

func newReplayCommand() *cobra.Command {
	var sf storeFlags
	var tenant, since, policyFile, into string
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Re-score stored evidence with another policy into a scratch database and diff the KPIs",
		Long: `replay reads a tenant's evidence from the evidence log (the raw messages the
scorer keeps, in chain order), scores it again with --policy into the scratch
database --into, and prints every KPI whose latest status differs from the
live one. The clock is fixed, so the same evidence and policy give the same rows.`,
		Example: `  trilens replay --tenant acme --since 30d --policy new.yaml --into trilens_replay`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pol, err := policy.Load(policyFile)
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			d, err := api.ParseSince(since)
			if err != nil || into == "" || into == sf.cfg.Database {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("want --since such as 30d and an --into database other than the live one (%v)", err)}
			}
			ctx := cmd.Context()
			live, err := sf.open(ctx)
			if err != nil {
				return err
			}
			defer live.Close()
			scratchCfg := sf.cfg
			scratchCfg.Database = into
			scratch, err := store.Open(ctx, scratchCfg)
			if err == nil {
				err = scratch.Migrate(ctx)
			}
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			defer scratch.Close()
			now := time.Now().UTC().Truncate(time.Second)
			n, err := scorer.Replay(ctx, live, scratch, pol, tenant, now.Add(-d), now)
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "replayed %d envelopes of %s into %s\n", n, tenant, into)
			return printKPIDiff(ctx, cmd.OutOrStdout(), live, scratch, tenant, now.Add(-d))
		},
	}
	sf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&tenant, "tenant", env("TRILENS_TENANT", "default"), "tenant to replay")
	f.StringVar(&since, "since", "30d", "how far back to replay")
	f.StringVar(&policyFile, "policy", "trilens.yaml", "the policy to score with")
	f.StringVar(&into, "into", "", "scratch ClickHouse database the replay writes (created when missing)")
	return cmd
}

// kpiState is the latest status of each KPI series.
func kpiState(ctx context.Context, st *store.Store, tenant string, since time.Time) (map[string]string, error) {
	rows, err := st.Conn().Query(ctx, `SELECT concat(lens, ' ', kpi, ' ', scope, ' ', service), argMax(status, observed_at),
		  argMax(value, observed_at), argMax(budget, observed_at)
		FROM `+st.Database()+`.kpi_points FINAL WHERE tenant = ? AND observed_at >= ?
		GROUP BY lens, kpi, scope, service`, tenant, since)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var key, status string
		var value, budget float64
		if err := rows.Scan(&key, &status, &value, &budget); err != nil {
			return nil, err
		}
		out[key] = fmt.Sprintf("%s (%.4g against %.4g)", status, value, budget)
	}
	return out, rows.Err()
}

func printKPIDiff(ctx context.Context, out io.Writer, live, scratch *store.Store, tenant string, since time.Time) error {
	before, err := kpiState(ctx, live, tenant, since)
	if err != nil {
		return err
	}
	after, err := kpiState(ctx, scratch, tenant, since)
	if err != nil {
		return err
	}
	keys := map[string]bool{}
	for k := range before {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	changed := 0
	for _, k := range sortedSet(keys) {
		if before[k] != after[k] {
			changed++
			fmt.Fprintf(out, "%s: live %s, replayed %s\n", k, orNone(before[k]), orNone(after[k]))
		}
	}
	fmt.Fprintf(out, "%d KPIs differ\n", changed)
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
