package cli

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/services/scorer/chain"
)

// storeFlags open ClickHouse directly, for the commands that read the
// evidence log itself rather than the scorer's API.
type storeFlags struct{ cfg store.Config }

func (s *storeFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.cfg.DSN, "store.dsn", env("TRILENS_STORE_DSN", store.DefaultDSN), "ClickHouse DSN (TRILENS_STORE_DSN)")
	f.StringVar(&s.cfg.Database, "store.database", env("TRILENS_STORE_DATABASE", "trilens"), "ClickHouse database (TRILENS_STORE_DATABASE)")
}

func (s *storeFlags) open(ctx context.Context) (*store.Store, error) {
	st, err := store.Open(ctx, s.cfg)
	if err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: err}
	}
	return st, nil
}

func newVerifyLogCommand() *cobra.Command {
	var sf storeFlags
	var tenant, pubFile, export, period, busURL string
	var seq uint64
	var evidenceIDs []string
	cmd := &cobra.Command{
		Use:   "verify-log",
		Short: "Verify a tenant's evidence chain, or export and check signed checkpoints",
		Long: `verify-log re-walks a tenant's evidence chain in ClickHouse: every entry's
digest against its row and message, every link against the previous entry,
and (with --public-key) every signed checkpoint. With --bus.url it also
compares every message the evidence stream still retains with the log's copy.
It prints the first break and exits 1 when there is one.

--evidence ID,... prints the chain entries the evidence ids of a KPI point,
finding or verdict come from (event ids, report ids, derived points).

--export-checkpoint FILE writes the period that ends with a checkpoint (the
latest, or --seq): the entries' digests between it and the checkpoint before,
with both signatures. --verify-checkpoint FILE checks such a file with only
--public-key, no database.`,
		Example: `  trilens verify-log --tenant acme --public-key checkpoint.pub
  trilens verify-log --tenant acme --export-checkpoint period.json
  trilens verify-log --verify-checkpoint period.json --public-key checkpoint.pub`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var pub ed25519.PublicKey
			if pubFile != "" {
				data, err := os.ReadFile(pubFile)
				if err == nil {
					pub, err = chain.ParsePublicKey(data)
				}
				if err != nil {
					return &ExitError{Code: ExitUsage, Err: err}
				}
			}
			out := cmd.OutOrStdout()
			if period != "" {
				return verifyPeriodFile(out, period, pub)
			}
			st, err := sf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			if len(evidenceIDs) > 0 {
				return traceEvidence(cmd.Context(), out, st, tenant, evidenceIDs)
			}
			if export != "" {
				return exportPeriod(cmd.Context(), out, st, tenant, seq, export)
			}
			if err := verifyLog(cmd.Context(), out, st, tenant, pub); err != nil || busURL == "" {
				return err
			}
			return verifyStream(cmd.Context(), out, st, busURL, tenant)
		},
	}
	sf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&tenant, "tenant", env("TRILENS_TENANT", "default"), "tenant whose chain to verify")
	f.StringVar(&pubFile, "public-key", "", "PEM ed25519 public key of the checkpoints")
	f.StringVar(&export, "export-checkpoint", "", "write the period ending with a checkpoint to this file")
	f.Uint64Var(&seq, "seq", 0, "the checkpoint to export (default the latest)")
	f.StringVar(&period, "verify-checkpoint", "", "verify an exported period with --public-key only")
	f.StringSliceVar(&evidenceIDs, "evidence", nil, "print the chain entries these evidence ids (of a KPI point, finding or verdict) come from")
	f.StringVar(&busURL, "bus.url", os.Getenv("TRILENS_BUS_URL"), "NATS URL: also compare the evidence stream's retained copies (TRILENS_BUS_URL)")
	return cmd
}

func verifyLog(ctx context.Context, out io.Writer, st *store.Store, tenant string, pub ed25519.PublicKey) error {
	res, err := chain.Verify(ctx, st, tenant, pub)
	if err != nil {
		return &ExitError{Code: ExitBroken, Err: err}
	}
	if res.Break != nil {
		fmt.Fprintf(out, "BROKEN at entry %d (event %s): %s\n%d entries verified before it\n",
			res.Break.Seq, res.Break.EventID, res.Break.Reason, res.Entries)
		return &ExitError{Code: ExitBroken}
	}
	fmt.Fprintf(out, "OK: %d entries of %s, head %s", res.Entries, tenant, res.Head)
	if pub != nil {
		fmt.Fprintf(out, ", %d signed checkpoints verified", res.Checkpoints)
	}
	fmt.Fprintln(out)
	return nil
}

func exportPeriod(ctx context.Context, out io.Writer, st *store.Store, tenant string, seq uint64, file string) error {
	p, err := chain.Export(ctx, st, tenant, seq)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	data, err := json.MarshalIndent(p, "", "  ")
	if err == nil {
		err = os.WriteFile(file, append(data, '\n'), 0o644)
	}
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	fmt.Fprintf(out, "wrote %s: entries %d to %d, checkpoint %d signed by key %s\n", file,
		p.To.ChainSeq-uint64(len(p.Entries))+1, p.To.ChainSeq, p.To.ChainSeq, p.To.KeyID)
	return nil
}

func verifyPeriodFile(out io.Writer, file string, pub ed25519.PublicKey) error {
	if pub == nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--verify-checkpoint needs --public-key")}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	var p chain.Period
	if err := json.Unmarshal(data, &p); err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s: %w", file, err)}
	}
	if err := chain.VerifyPeriod(pub, &p); err != nil {
		fmt.Fprintf(out, "BROKEN: %v\n", err)
		return &ExitError{Code: ExitBroken, Err: err}
	}
	fmt.Fprintf(out, "OK: checkpoint %d of %s (key %s) and its %d entries verify\n", p.To.ChainSeq, p.To.Tenant, p.To.KeyID, len(p.Entries))
	return nil
}

func verifyStream(ctx context.Context, out io.Writer, st *store.Store, url, tenant string) error {
	b, err := bus.Connect(ctx, bus.Config{URL: url}, slog.New(slog.DiscardHandler))
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	defer b.Close()
	res, err := chain.CompareStream(ctx, st, b.JetStream(), tenant)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	fmt.Fprintf(out, "JetStream: %d messages of %s retained, %d match the log", res.Retained, tenant, res.Matched)
	if len(res.Unlogged) > 0 {
		fmt.Fprintf(out, ", %d not in the log (not yet scored, dead-lettered or deleted; first %s)", len(res.Unlogged), res.Unlogged[0])
	}
	fmt.Fprintln(out)
	if len(res.Differ) > 0 {
		fmt.Fprintf(out, "BROKEN: %d stored messages differ from JetStream's copy (first: event %s)\n", len(res.Differ), res.Differ[0])
		return &ExitError{Code: ExitBroken}
	}
	return nil
}

func traceEvidence(ctx context.Context, out io.Writer, st *store.Store, tenant string, ids []string) error {
	entries, unresolved, err := chain.Resolve(ctx, st, tenant, ids)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	for _, e := range entries {
		fmt.Fprintf(out, "entry %d\tevent %s\tdigest %s\n", e.Seq, e.EventID, e.EntryDigest)
	}
	if len(unresolved) > 0 {
		fmt.Fprintf(out, "NOT IN THE LOG: %s\n", strings.Join(unresolved, ", "))
		return &ExitError{Code: ExitBroken}
	}
	return nil
}
