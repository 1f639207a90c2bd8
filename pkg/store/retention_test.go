package store_test

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
	"go.yaml.in/yaml/v3"
)

func TestRetentionConfig(t *testing.T) {
	var c store.Config
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.RegisterFlags("store.", fs)
	if err := fs.Parse([]string{"-store.retention=evidence_log=400d", "-store.retention=kpi_points=36h,changes=90d"}); err != nil {
		t.Fatal(err)
	}
	want := store.Retention{"evidence_log": store.Period(400 * 24 * time.Hour), "kpi_points": store.Period(36 * time.Hour), "changes": store.Period(90 * 24 * time.Hour)}
	if c.Retention.String() != want.String() || c.Retention.String() != "changes=90d,evidence_log=400d,kpi_points=36h0m0s" {
		t.Errorf("retention %v, want %v", c.Retention, want)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Retention = store.Retention{"findings": store.Period(24 * time.Hour), "changes": store.Period(time.Hour), "kpi_points": store.Period(36500 * 24 * time.Hour)}
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "findings is not a table with time partitions") || !strings.Contains(err.Error(), "under a day") ||
		!strings.Contains(err.Error(), "kpi_points: 36500d is over 7300d") {
		t.Errorf("Validate = %v", err)
	}
	for _, bad := range []string{"evidence_log=1.5d", "evidence_log=x", "evidence_log=", "evidence_log"} {
		var r store.Retention
		if err := r.Set(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// The process config file names them the same way.
	var fromYAML store.Config
	if err := yaml.Unmarshal([]byte("retention: {evidence_log: 400d, kpi_points: 36h, changes: 90d}"), &fromYAML); err != nil {
		t.Fatal(err)
	}
	if fromYAML.Retention.String() != want.String() {
		t.Errorf("from YAML %v, want %v", fromYAML.Retention, want)
	}
	if got := store.RetentionStatements("db", store.CapabilitiesOf(proto.Version{Major: 18, Minor: 16}), want); got != nil {
		t.Errorf("18.16 gets TTL statements %q", got)
	}
	got := store.RetentionStatements("db", store.CapabilitiesOf(proto.Version{Major: 26, Minor: 7}), want)
	if strings.Join(got, "\n") != `ALTER TABLE db.changes MODIFY TTL observed_at + INTERVAL 90 DAY
ALTER TABLE db.evidence_log MODIFY TTL observed_at + INTERVAL 400 DAY
ALTER TABLE db.kpi_points MODIFY TTL observed_at + INTERVAL 129600 SECOND` {
		t.Errorf("26.7 statements:\n%s", strings.Join(got, "\n"))
	}
}

// On 18.16 (no TTL) retention drops the monthly partitions whose whole
// month has expired and keeps the rest, of the tables it names only.
func TestRetentionDropsExpiredMonths(t *testing.T) {
	st := chtest.Store(t)
	if st.Capabilities().TTL {
		t.Fatalf("the partition-dropping job is for servers without TTL; this one is %s", st.Capabilities())
	}
	ctx := context.Background()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	var ev store.EvidenceLogRows
	var ch store.ChangeRows
	for i, at := range []time.Time{
		time.Date(2026, 9, 30, 23, 0, 0, 0, time.UTC),   // September: expired
		time.Date(2026, 10, 20, 0, 0, 0, 0, time.UTC),   // October ends Nov 1, after the cutoff Oct 6: kept
		time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),    // kept
		time.Date(2025, 12, 31, 23, 59, 0, 0, time.UTC), // expired
	} {
		ev.Append(store.EvidenceLog{EventID: fmt.Sprint("e", i), Tenant: "acme", Kind: "change", ObservedAt: at, ReceivedAt: at, StoredAt: at})
		ch.Append(store.Change{Scope: store.Scope{Tenant: "acme", EventID: fmt.Sprint("e", i), ObservedAt: at}, ChangeID: "c"})
	}
	if err := st.Insert(ctx, &ev, &ch); err != nil {
		t.Fatal(err)
	}
	r := store.Retention{"evidence_log": store.Period(60 * 24 * time.Hour)}
	dropped, err := st.DropExpired(ctx, r, now)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(dropped, " ") != "evidence_log/202512 evidence_log/202609" {
		t.Errorf("dropped %v", dropped)
	}
	if err := st.ApplyRetention(ctx, r, now); err != nil {
		t.Fatal(err)
	}
	count := func(table string) (n uint64) {
		if err := st.Conn().QueryRow(ctx, "SELECT count() FROM "+st.Database()+"."+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count("evidence_log"); n != 2 {
		t.Errorf("evidence_log keeps %d rows, want 2 (October and December)", n)
	}
	if n := count("changes"); n != 4 {
		t.Errorf("changes keeps %d rows, want all 4 (no retention)", n)
	}
}
