package e2e

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
	"github.com/trilens/trilens/services/scorer"
	"github.com/trilens/trilens/services/tracecollector"
)

const testPolicy = `
version: 1
journeys:
  - name: checkout
    owner: team-checkout
    match: [{ http_route: /checkout }]
    p95_ms: 150
    error_rate: 0.01
    hops: { cdn: 10, api: 60, db: 50, margin: 30 }
  - name: browse
    match: [{ http_route: /products/* }]
    p95_ms: 200
hop_rules:
  - { service: cdn, hop: cdn }
detections:
  window: 1m
  n_plus_one: { min_similar_spans: 5 }
  serial_calls: { min_calls: 3, max_gap_ms: 5 }
  sync_third_party: { any_external_host: true, min_ms: 1 }
  slow_queries: { top_n: 5, min_total_ms: 1 }
`

// rig is the trace lens in one process: a collector publishing to an
// embedded NATS server, and a scorer consuming into a real ClickHouse.
type rig struct {
	bus       *bus.Bus
	store     *store.Store
	collector *tracecollector.Collector
	url       string
}

func newRig(t testing.TB, policyYAML string, tune func(*tracecollector.Config)) *rig {
	t.Helper()
	pol, err := policy.Parse([]byte(policyYAML), "trilens.yaml")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	nc, err := natstest.Start(t).Connect()
	if err != nil {
		t.Fatal(err)
	}
	b, err := bus.New(nc, bus.DefaultConfig(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	ctx := context.Background()
	if err := b.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	st := chtest.Store(t)
	var scfg scorer.Config
	scfg.RegisterFlags("", flag.NewFlagSet("", flag.ContinueOnError))
	scfg.BatchWait = 200 * time.Millisecond
	sc, err := scorer.New(scfg, scorer.Settings{Logger: log, Bus: b, Store: st, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sc.Stop(context.Background()) })

	cfg := tracecollector.DefaultConfig()
	cfg.HTTPAddress, cfg.GRPCAddress = "127.0.0.1:0", ""
	cfg.Lateness = 24 * time.Hour // windows close at Stop
	cfg.Policy = pol
	if tune != nil {
		tune(&cfg)
	}
	c, err := tracecollector.New(cfg, collect.Settings{Logger: log, Publisher: b})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	return &rig{bus: b, store: st, collector: c, url: "http://" + c.HTTPAddr() + "/v1/traces"}
}

// windowID names one journey's window.
type windowID struct {
	journey string
	start   int64
}

// traffic is OTLP/HTTP protobuf bodies and what they contain.
type traffic struct {
	bodies [][]byte
	spans  int
	// roots are the root durations (ms) of each journey window.
	roots map[windowID][]float64
	// dbTotal is the DB time (ms) of each journey window.
	dbTotal map[windowID]float64
	// checkout is the trace ids (hex) of checkout traces.
	checkout map[string]bool
}

// genTraffic makes n traces spread over two windows from t0: 30% checkout
// traces (CDN, API, an N+1 of 8 queries, three serial payment calls: 13
// spans) and 70% product pages (CDN, API, one query: 3 spans), packed into
// requests of about perRequest spans as an SDK batch processor would.
func genTraffic(n, perRequest int, t0 time.Time, window time.Duration) *traffic {
	rng := rand.New(rand.NewPCG(1, 2))
	tr := &traffic{roots: map[windowID][]float64{}, dbTotal: map[windowID]float64{}, checkout: map[string]bool{}}
	td := ptrace.NewTraces()
	inReq := 0
	flush := func() {
		if inReq == 0 {
			return
		}
		b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		if err != nil {
			panic(err)
		}
		tr.bodies = append(tr.bodies, b)
		td = ptrace.NewTraces()
		inReq = 0
	}
	scope := func(service string) ptrace.SpanSlice {
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			if v, _ := rss.At(i).Resource().Attributes().Get("service.name"); v.Str() == service {
				return rss.At(i).ScopeSpans().At(0).Spans()
			}
		}
		rs := rss.AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		rs.Resource().Attributes().PutStr("deployment.environment.name", "production")
		return rs.ScopeSpans().AppendEmpty().Spans()
	}
	step := 2 * window / time.Duration(n)
	for i := range n {
		var tid pcommon.TraceID
		for k := range tid {
			tid[k] = byte(rng.Uint32())
		}
		start := t0.Add(time.Duration(i) * step)
		ws := start.UnixNano() - start.UnixNano()%int64(window)
		nextID := uint64(0)
		span := func(service, name string, kind ptrace.SpanKind, parent pcommon.SpanID, s, e time.Time) ptrace.Span {
			nextID++
			sp := scope(service).AppendEmpty()
			sp.SetTraceID(tid)
			sp.SetSpanID(pcommon.SpanID{byte(nextID >> 8), byte(nextID), byte(i), byte(i >> 8), byte(i >> 16), byte(i >> 24), 1, 2})
			sp.SetParentSpanID(parent)
			sp.SetName(name)
			sp.SetKind(kind)
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(s))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(e))
			tr.spans++
			inReq++
			return sp
		}
		jitter := func(max time.Duration) time.Duration { return time.Duration(rng.Int64N(int64(max))) }
		cur := start.Add(3 * time.Millisecond)
		var db float64
		if i%10 < 3 {
			tr.checkout[tid.String()] = true
			root := span("cdn", "GET /checkout", ptrace.SpanKindServer, pcommon.SpanID{}, start, time.Time{})
			api := span("checkout-api", "POST /checkout", ptrace.SpanKindServer, root.SpanID(), start.Add(2*time.Millisecond), time.Time{})
			api.Attributes().PutStr("http.route", "/checkout")
			for k := range 8 {
				d := 2*time.Millisecond + jitter(3*time.Millisecond)
				q := span("checkout-api", "SELECT", ptrace.SpanKindClient, api.SpanID(), cur, cur.Add(d))
				q.Attributes().PutStr("db.system.name", "postgresql")
				q.Attributes().PutStr("db.query.text", fmt.Sprintf("SELECT * FROM items WHERE id = %d", 1000+k))
				db += float64(d) / 1e6
				cur = cur.Add(d + 200*time.Microsecond)
			}
			for range 3 {
				d := 15*time.Millisecond + jitter(20*time.Millisecond)
				c := span("checkout-api", "POST /charge", ptrace.SpanKindClient, api.SpanID(), cur, cur.Add(d))
				c.Attributes().PutStr("server.address", "api.payments.example")
				cur = cur.Add(d + time.Millisecond)
			}
			api.SetEndTimestamp(pcommon.NewTimestampFromTime(cur.Add(jitter(5 * time.Millisecond))))
			root.SetEndTimestamp(pcommon.NewTimestampFromTime(api.EndTimestamp().AsTime().Add(2*time.Millisecond + jitter(3*time.Millisecond))))
			id := windowID{"checkout", ws}
			tr.roots[id] = append(tr.roots[id], float64(root.EndTimestamp()-root.StartTimestamp())/1e6)
			tr.dbTotal[id] += db
		} else {
			root := span("cdn", "GET /products/:id", ptrace.SpanKindServer, pcommon.SpanID{}, start, time.Time{})
			api := span("catalog-api", "GET /products/{id}", ptrace.SpanKindServer, root.SpanID(), start.Add(time.Millisecond), time.Time{})
			api.Attributes().PutStr("http.route", "/products/{id}")
			d := time.Millisecond + jitter(4*time.Millisecond)
			q := span("catalog-api", "SELECT", ptrace.SpanKindClient, api.SpanID(), cur, cur.Add(d))
			q.Attributes().PutStr("db.system.name", "postgresql")
			q.Attributes().PutStr("db.query.text", "SELECT name FROM products WHERE id = $1")
			db += float64(d) / 1e6
			api.SetEndTimestamp(pcommon.NewTimestampFromTime(cur.Add(d + jitter(10*time.Millisecond))))
			root.SetEndTimestamp(pcommon.NewTimestampFromTime(api.EndTimestamp().AsTime().Add(time.Millisecond)))
			id := windowID{"browse", ws}
			tr.roots[id] = append(tr.roots[id], float64(root.EndTimestamp()-root.StartTimestamp())/1e6)
			tr.dbTotal[id] += db
		}
		if inReq >= perRequest {
			flush()
		}
	}
	flush()
	return tr
}

// send posts bodies from conc goroutines, honouring 429/503 by retrying
// after a pause; it returns how many requests were refused on the way.
func send(t testing.TB, url string, bodies [][]byte, conc int) int {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc}}
	defer client.CloseIdleConnections()
	next := make(chan []byte)
	errs := make(chan error, conc)
	refused := make(chan int, conc)
	for range conc {
		go func() {
			n := 0
			for body := range next {
				for {
					resp, err := client.Post(url, "application/x-protobuf", bytes.NewReader(body))
					if err != nil {
						errs <- err
						refused <- n
						return
					}
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						break
					}
					if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
						errs <- fmt.Errorf("status %d", resp.StatusCode)
						refused <- n
						return
					}
					n++
					time.Sleep(5 * time.Millisecond)
				}
			}
			refused <- n
		}()
	}
	for _, b := range bodies {
		next <- b
	}
	close(next)
	total := 0
	for range conc {
		total += <-refused
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	return total
}
