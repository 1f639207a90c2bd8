package scorer_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"github.com/trilens/trilens/services/scorer/evidence"
)

// BenchmarkPipeline measures publish -> JetStream -> scorer -> ClickHouse in
// rows per second and, in the same run, how fast clickhouse-client inserts
// the very rows the pipeline stored (Native format), with the ratio.
// "batched" events carry report parts of 1000 findings, as the scan
// collector sends them; "one-row-per-event" shows why events carry batches.
func BenchmarkPipeline(b *testing.B) {
	cases := []struct {
		name             string
		events, perEvent int
	}{
		{"batched", 300, 1000},
		{"one-row-per-event", 50_000, 1},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				benchPipeline(b, c.events, c.perEvent)
			}
		})
	}
}

func benchPipeline(b *testing.B, nEvents, perEvent int) {
	b.StopTimer()
	r := newRig(b, nil)
	tenant := "bench"
	evs := make([]*eventv1.Event, nEvents)
	rows := 0
	for i := range evs {
		evs[i] = scanEvent(tenant, i, nEvents, perEvent)
		rows += evidence.RowCount(evs[i])
	}
	ctx := context.Background()
	b.StartTimer()
	start := time.Now()
	const chunk = 1000
	for i := 0; i < len(evs); i += chunk {
		if err := r.bus.Publish(ctx, evs[i:min(i+chunk, len(evs))]...); err != nil {
			b.Fatal(err)
		}
	}
	waitCount(b, r.store, "evidence_log", tenant, uint64(nEvents))
	waitCount(b, r.store, "finding_observations", tenant, uint64(nEvents*perEvent))
	elapsed := time.Since(start)
	b.StopTimer()

	stored, raw := rawInsert(b, r.store)
	e2e := float64(stored) / elapsed.Seconds()
	rawRate := float64(stored) / raw.Seconds()
	b.ReportMetric(e2e, "e2e-rows/s")
	b.ReportMetric(rawRate, "clickhouse-client-rows/s")
	b.ReportMetric(e2e/rawRate, "ratio")
	b.ReportMetric(float64(nEvents)/elapsed.Seconds(), "events/s")
	b.Logf("%d events, %d rows stored (RowCount %d) in %s end to end; clickhouse-client inserted them in %s", nEvents, stored, rows, elapsed.Round(time.Millisecond), raw.Round(time.Millisecond))
}

// rawInsert copies every non-empty table of the database into an empty twin
// with clickhouse-client, Native format, from files exported beforehand, and
// returns the rows and the time the inserts took.
func rawInsert(b *testing.B, st *store.Store) (uint64, time.Duration) {
	b.Helper()
	ctx := context.Background()
	db := st.Database()
	rows, err := st.Conn().Query(ctx, "SELECT name FROM system.tables WHERE database = ? AND engine LIKE '%MergeTree' AND name != 'schema_migrations'", db)
	if err != nil {
		b.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			b.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	u, err := url.Parse(chtest.DSN())
	if err != nil {
		b.Fatal(err)
	}
	host, port := u.Hostname(), u.Port()
	client := func(query string, stdin, stdout *os.File) error {
		cmd := exec.Command("clickhouse-client", "--host", host, "--port", port, "--query", query)
		cmd.Stdin, cmd.Stdout = stdin, stdout
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("clickhouse-client %q: %v: %s", query, err, stderr.String())
		}
		return nil
	}
	dir := b.TempDir()
	var total uint64
	var elapsed time.Duration
	for _, t := range tables {
		var n uint64
		if err := st.Conn().QueryRow(ctx, fmt.Sprintf("SELECT count() FROM %s.%s", db, t)).Scan(&n); err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			continue
		}
		path := filepath.Join(dir, t+".native")
		out, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := client(fmt.Sprintf("SELECT * FROM %s.%s FORMAT Native", db, t), nil, out); err != nil {
			b.Fatal(err)
		}
		out.Close()
		if err := st.Conn().Exec(ctx, fmt.Sprintf("CREATE TABLE %s.%s_raw AS %s.%s", db, t, db, t)); err != nil {
			b.Fatal(err)
		}
		in, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := client(fmt.Sprintf("INSERT INTO %s.%s_raw FORMAT Native", db, t), in, nil); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
		in.Close()
		total += n
	}
	return total, elapsed
}
