package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
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
	var apply bool
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Re-score stored evidence with another policy into a scratch database and diff the KPIs",
		Long: `replay reads a tenant's evidence from the evidence log (the raw messages the
scorer keeps, in chain order), scores it again with --policy into the scratch
database --into, and prints every KPI whose latest status differs from the
live one. The clock is fixed, so the same evidence and policy give the same rows.

--apply then copies the replayed KPI points and verdicts into the live
database, each marked with the policy's digest (sha256 of the policy file):
a replayed point replaces the live point of the same series, time and event.`,
		Example: `  trilens replay --tenant acme --since 30d --policy new.yaml --into trilens_replay
  trilens replay --tenant acme --since 30d --policy new.yaml --into trilens_replay --apply`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pol, err := policy.Load(policyFile)
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			raw, err := os.ReadFile(policyFile)
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			sum := sha256.Sum256(raw)
			digest := hex.EncodeToString(sum[:])
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
			n, skipped, err := scorer.Replay(ctx, live, scratch, pol, tenant, now.Add(-d), now)
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "replayed %d envelopes of %s into %s with policy %s\n", n, tenant, into, digest)
			if skipped > 0 {
				fmt.Fprintf(out, "skipped %d envelopes stored before the log kept messages\n", skipped)
			}
			if err := printKPIDiff(ctx, out, live, scratch, tenant, now.Add(-d)); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			if !apply {
				return nil
			}
			if err := applyReplay(ctx, live, scratch, tenant, digest); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			fmt.Fprintf(out, "applied: KPI points and verdicts of %s re-scored in %s, marked with policy %s\n", tenant, live.Database(), digest)
			return nil
		},
	}
	sf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&tenant, "tenant", env("TRILENS_TENANT", "default"), "tenant to replay")
	f.StringVar(&since, "since", "30d", "how far back to replay")
	f.StringVar(&policyFile, "policy", "trilens.yaml", "the policy to score with")
	f.StringVar(&into, "into", "", "scratch ClickHouse database the replay writes (created when missing)")
	f.BoolVar(&apply, "apply", false, "copy the replayed KPI points and verdicts into the live database")
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

// applyReplay copies the replayed KPI points and verdicts of tenant into
// live, marked with the policy digest.
func applyReplay(ctx context.Context, live, scratch *store.Store, tenant, digest string) error {
	for _, t := range []store.Table{&store.KPIPointRows{}, &store.VerdictRows{}} {
		cols := t.Columns()
		sel := make([]string, len(cols))
		for i, c := range cols {
			sel[i] = c
			if c == "policy_digest" {
				sel[i] = "? AS policy_digest"
			}
		}
		q := `INSERT INTO ` + live.Database() + `.` + t.Name() + ` (` + strings.Join(cols, ", ") + `) SELECT ` + strings.Join(sel, ", ") +
			` FROM ` + scratch.Database() + `.` + t.Name() + ` FINAL WHERE tenant = ?`
		if err := live.Conn().Exec(ctx, q, digest, tenant); err != nil {
			return fmt.Errorf("apply %s: %w", t.Name(), err)
		}
	}
	return nil
}
