package scorer_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

// BenchmarkPipeline measures publish -> JetStream -> scorer -> ClickHouse in
// rows per second and how fast clickhouse-client inserts the very rows the
// pipeline stored (Native format), in rounds: each round runs the pipeline,
// then the client on that round's rows, so both see the same load on a
// shared machine. It reports the median ratio (pipeline rate / client rate)
// and its spread over PIPELINE_BENCH_ROUNDS rounds (default 5).
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
	rounds := 5
	if v := os.Getenv("PIPELINE_BENCH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("PIPELINE_BENCH_ROUNDS=%q: want a whole number of rounds >= 1", v)
		}
		rounds = n
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				var e2e, raw, ratio []float64
				for i := range rounds {
					r := benchPipeline(b, c.events, c.perEvent)
					e2e, raw, ratio = append(e2e, r.e2e), append(raw, r.raw), append(ratio, r.e2e/r.raw)
					b.Logf("round %d: %d events, %d rows stored in %s end to end (%.0f rows/s); clickhouse-client %.0f rows/s; ratio %.3f",
						i+1, c.events, r.rows, r.elapsed.Round(time.Millisecond), r.e2e, r.raw, r.e2e/r.raw)
				}
				b.ReportMetric(median(e2e), "e2e-rows/s")
				b.ReportMetric(median(raw), "clickhouse-client-rows/s")
				b.ReportMetric(median(ratio), "ratio")
				b.ReportMetric(slices.Min(ratio), "ratio-min")
				b.ReportMetric(slices.Max(ratio), "ratio-max")
				b.ReportMetric(float64(rounds), "rounds")
			}
		})
	}
}

// median of xs (the mean of the middle two when there is an even number).
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// pipelineRound is one round: rows stored, pipeline time, both rates.
type pipelineRound struct {
	rows     uint64
	elapsed  time.Duration
	e2e, raw float64
}

// roundTB stops a round's rig (scorer, NATS server, database) when the round
// ends, so that idle rigs of earlier rounds do not load later ones.
type roundTB struct {
	testing.TB
	cleanups []func()
}

func (r *roundTB) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

func (r *roundTB) end() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func benchPipeline(b *testing.B, nEvents, perEvent int) pipelineRound {
	b.StopTimer()
	tb := &roundTB{TB: b}
	defer tb.end()
	r := newRig(tb, nil)
	tenant := "bench"
	evs := make([]*eventv1.Event, nEvents)
	for i := range evs {
		evs[i] = scanEvent(tenant, i, nEvents, perEvent)
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
	return pipelineRound{rows: stored, elapsed: elapsed, e2e: float64(stored) / elapsed.Seconds(), raw: float64(stored) / raw.Seconds()}
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
