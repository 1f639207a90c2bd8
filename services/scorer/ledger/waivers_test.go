package ledger

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store/chtest"
	"github.com/trilens/trilens/services/scorer/internal/scorertest"
	"github.com/trilens/trilens/services/scorer/trace"
)

// TestLedgerRecordsPolicyWaivers: the ledger records what the policy file
// does to a waiver, once per change: declared, extended, removed, declared
// again after its expiry (updated, then expired with a verdict).
func TestLedgerRecordsPolicyWaivers(t *testing.T) {
	st := chtest.Store(t)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	clk := &scorertest.Clock{T: now}
	withWaiver := func(expires time.Time) *policy.Policy {
		pol := policy.Default()
		pol.Waivers = []policy.Waiver{{ID: "w-cdn", KPI: trace.KPIJourneyP95, Scope: "pay", Owner: "team-payments",
			Reason: "CDN migration", CompensatingControl: "autoscaling", Expires: expires}}
		return pol
	}
	l := &Ledger{st: st, pol: withWaiver(now.Add(48 * time.Hour)), log: slog.New(slog.DiscardHandler), now: clk.Now}
	ctx := context.Background()
	sweep := func(wantChange, wantState string) {
		t.Helper()
		ws, err := l.Sweep(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if len(ws) != 1 || ws[0].LastChange != wantChange || ws[0].State != wantState || ws[0].Source != WaiverSourcePolicy {
			t.Fatalf("waivers after sweep: %+v, want one policy waiver, last change %s, %s", ws, wantChange, wantState)
		}
	}
	changes := func() string {
		t.Helper()
		rows, err := st.Conn().Query(ctx, `SELECT change FROM `+st.Database()+`.waiver_changes FINAL WHERE tenant = 'acme' ORDER BY changed_at,
			multiIf(change = 'created', 1, change = 'updated', 2, change = 'revoked', 3, 4)`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				t.Fatal(err)
			}
			out = append(out, c)
		}
		return strings.Join(out, " ")
	}
	sweep(WaiverCreated, WaiverActive)
	sweep(WaiverCreated, WaiverActive) // nothing new
	clk.Set(now.Add(time.Hour))
	l.pol = withWaiver(now.Add(96 * time.Hour))
	sweep(WaiverUpdated, WaiverActive)
	clk.Set(now.Add(2 * time.Hour))
	l.pol = policy.Default()
	sweep(WaiverRevoked, WaiverRevoked)
	clk.Set(now.Add(5 * time.Hour))
	l.pol = withWaiver(now.Add(4 * time.Hour))
	sweep(WaiverExpired, WaiverExpired)
	sweep(WaiverExpired, WaiverExpired) // nothing new
	if got, want := changes(), "created updated revoked updated expired"; got != want {
		t.Errorf("ledger changes %q, want %q", got, want)
	}
	if n := countVerdicts(t, l, ReasonWaiverExpired); n != 1 {
		t.Errorf("%d expiry verdicts, want 1", n)
	}
}

func countVerdicts(t *testing.T, l *Ledger, reason string) uint64 {
	t.Helper()
	var n uint64
	if err := l.st.Conn().QueryRow(context.Background(), `SELECT count() FROM `+l.st.Database()+`.verdicts FINAL WHERE reason = ?`, reason).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
