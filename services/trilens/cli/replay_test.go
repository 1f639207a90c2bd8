package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	tracev1 "github.com/trilens/trilens/proto/trilens/trace/v1"
)

const replayPolicy = `
version: 1
journeys:
  - { name: pay, match: [{ http_route: /pay }], p95_ms: %d }
`

// TestReplayTighterBudget: evidence the live scorer passed fails when
// replayed with a tighter p95 budget, and two replays write the same rows.
func TestReplayTighterBudget(t *testing.T) {
	dir := t.TempDir()
	live, err := policy.Parse([]byte(fmt.Sprintf(replayPolicy, 1000)), "live.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tight := filepath.Join(dir, "tight.yaml")
	if err := os.WriteFile(tight, []byte(fmt.Sprintf(replayPolicy, 150)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := chtest.Config(t)
	st := chtest.Store(t)
	b := natstest.Bus(t)
	startScorer(t, b, st, live)
	start := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Minute)
	for i := range 6 {
		w := start.Add(time.Duration(i) * time.Minute)
		env := events.NewEnvelope(fmt.Sprint("w-", i), "acme", eventv1.Kind_KIND_TRACE_WINDOW, &eventv1.Producer{Collector: "tracecollector"},
			&eventv1.Subject{Environment: eventv1.Environment_ENVIRONMENT_PRODUCTION}, w.Add(time.Minute))
		ev := &eventv1.Event{Envelope: env, Payload: &eventv1.Event_TraceWindows{TraceWindows: &tracev1.WindowBatch{Windows: []*tracev1.Window{{
			StartUnixNano: w.UnixNano(), DurationNanos: int64(time.Minute), Service: "checkout", Journey: "pay", Count: 100, P95Ms: 200 + float64(i), P99Ms: 400}}}}}
		if err := b.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	waitEntries(t, st, 6)
	// Every KPI point and verdict names evidence in the chain.
	var ids []string
	for deadline := time.Now().Add(30 * time.Second); len(ids) < 6; time.Sleep(50 * time.Millisecond) {
		ids = strings1(t, st, `SELECT DISTINCT arrayJoin(evidence_ids) FROM `+st.Database()+`.kpi_points FINAL WHERE tenant = 'acme'
			UNION ALL SELECT DISTINCT arrayJoin(evidence_ids) FROM `+st.Database()+`.verdicts FINAL WHERE tenant = 'acme'`)
		if time.Now().After(deadline) {
			t.Fatalf("evidence ids %v: want the six windows'", ids)
		}
	}
	code, out := runCLI("verify-log", "--store.dsn", cfg.DSN, "--store.database", st.Database(), "--tenant", "acme",
		"--evidence", strings.Join(ids, ","))
	if code != ExitPass || strings.Count(out, "entry ") != 6 {
		t.Fatalf("evidence %v: exit %d, want the six trace windows\n%s", ids, code, out)
	}
	if code, out := runCLI("verify-log", "--store.dsn", cfg.DSN, "--store.database", st.Database(), "--tenant", "acme", "--evidence", "nope"); code != ExitBroken {
		t.Errorf("unknown evidence: exit %d\n%s", code, out)
	}
	scratch := []string{st.Database() + "_replay_a", st.Database() + "_replay_b"}
	t.Cleanup(func() {
		for _, db := range scratch {
			_ = st.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
		}
	})
	for _, into := range scratch {
		code, out = runCLI("replay", "--store.dsn", cfg.DSN, "--store.database", st.Database(), "--tenant", "acme",
			"--since", "1d", "--policy", tight, "--into", into)
		if code != ExitPass || !strings.Contains(out, "replayed 6 envelopes") ||
			!strings.Contains(out, "performance journey_p95_ms pay checkout: live pass") || !strings.Contains(out, "replayed fail") {
			t.Fatalf("replay into %s: exit %d\n%s", into, code, out)
		}
	}
	a, b2 := dump(t, st, scratch[0]), dump(t, st, scratch[1])
	if a == "" || a != b2 {
		t.Errorf("two replays differ or are empty:\n%s\n---\n%s", a, b2)
	}

	// --apply re-scores the live database, marking the points with the policy's digest.
	raw, _ := os.ReadFile(tight)
	sum := sha256.Sum256(raw)
	code, out = runCLI("replay", "--store.dsn", cfg.DSN, "--store.database", st.Database(), "--tenant", "acme",
		"--since", "1d", "--policy", tight, "--into", scratch[0], "--apply")
	if code != ExitPass || !strings.Contains(out, "applied") {
		t.Fatalf("replay --apply: exit %d\n%s", code, out)
	}
	var status, digest string
	err = st.Conn().QueryRow(context.Background(), `SELECT argMax(status, observed_at), argMax(policy_digest, observed_at) FROM `+st.Database()+
		`.kpi_points FINAL WHERE tenant = 'acme' AND kpi = 'journey_p95_ms' AND scope = 'pay'`).Scan(&status, &digest)
	if err != nil || status != "fail" || digest != hex.EncodeToString(sum[:]) {
		t.Errorf("live journey p95 after --apply: %s, policy %q (%v); want fail, policy %x", status, digest, err, sum)
	}
	code, out = runCLI("replay", "--store.dsn", cfg.DSN, "--store.database", st.Database(), "--tenant", "acme",
		"--since", "1d", "--policy", tight, "--into", scratch[1])
	if code != ExitPass || !strings.Contains(out, "0 KPIs differ") {
		t.Errorf("replay after --apply: exit %d, want no difference left\n%s", code, out)
	}
}

// dump renders the KPI points and verdicts of db, ordered, as text.
func dump(t *testing.T, st *store.Store, db string) string {
	t.Helper()
	var sb strings.Builder
	for _, table := range []string{"kpi_points", "verdicts"} {
		rows, err := st.Conn().Query(context.Background(), `SELECT toString(tuple(*)) AS r FROM `+db+`.`+table+` FINAL ORDER BY r`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var r string
			if err := rows.Scan(&r); err != nil {
				t.Fatal(err)
			}
			sb.WriteString(r + "\n")
		}
		rows.Close()
	}
	return sb.String()
}

func strings1(t *testing.T, st *store.Store, q string) []string {
	t.Helper()
	rows, err := st.Conn().Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}
