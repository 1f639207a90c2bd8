package tracecollector

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/trilens/trilens/pkg/policy"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	tracev1 "github.com/trilens/trilens/proto/trilens/trace/v1"
)

// halfSampler samples everything, and marks the traces whose root carries
// test.sampled=true as sampled at probability 1/2 the way OpenTelemetry's
// probability samplers do (tracestate ot=th:8), so they count twice.
type halfSampler struct{}

func (halfSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	psc := trace.SpanContextFromContext(p.ParentContext)
	ts := psc.TraceState()
	if !psc.IsValid() {
		for _, a := range p.Attributes {
			if a.Key == "test.sampled" && a.Value.AsBool() {
				ts, _ = trace.ParseTraceState("ot=th:8")
			}
		}
	}
	return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample, Tracestate: ts}
}

func (halfSampler) Description() string { return "half" }

// service is one instrumented service: a tracer provider exporting with a
// real OTLP exporter, and a recorder keeping the same spans for the test.
type service struct {
	tp  *sdktrace.TracerProvider
	rec *tracetest.SpanRecorder
	tr  trace.Tracer
}

func newService(t *testing.T, name string, exp sdktrace.SpanExporter) *service {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(resource.NewSchemaless(
			attribute.String("service.name", name), attribute.String("deployment.environment.name", "production"))),
		sdktrace.WithBatcher(exp, sdktrace.WithMaxExportBatchSize(200)),
		sdktrace.WithSpanProcessor(rec),
		sdktrace.WithSampler(halfSampler{}),
	)
	return &service{tp: tp, rec: rec, tr: tp.Tracer("test")}
}

// span starts and ends a span at fixed times.
func (s *service) span(ctx context.Context, name string, kind trace.SpanKind, start, end time.Time, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	ctx, sp := s.tr.Start(ctx, name, trace.WithSpanKind(kind), trace.WithTimestamp(start), trace.WithAttributes(attrs...))
	return ctx, sp
}

const ms = time.Millisecond

// traffic builds checkout traces (an N+1 query, three serial calls to a
// payment API) and fast product-page traces through a CDN and an edge proxy.
func traffic(t0 time.Time, cdn, edge, checkout, catalog *service) {
	ctx := context.Background()
	for i := range 40 {
		s := t0.Add(time.Duration(i) * 250 * ms)
		sampled := attribute.Bool("test.sampled", i%2 == 0)
		rctx, root := cdn.span(ctx, "GET /checkout", trace.SpanKindServer, s, time.Time{}, sampled)
		ectx, e := edge.span(rctx, "GET /checkout", trace.SpanKindServer, s.Add(2*ms), time.Time{})
		actx, api := checkout.span(ectx, "POST /checkout", trace.SpanKindServer, s.Add(5*ms), time.Time{},
			attribute.String("http.route", "/checkout"))
		cur := s.Add(6 * ms)
		for k := range 8 {
			d := time.Duration(4+(i+k)%3)*ms + time.Duration(i*37%500)*time.Microsecond
			_, db := checkout.span(actx, "SELECT shop.items", trace.SpanKindClient, cur, time.Time{},
				attribute.String("db.system.name", "postgresql"),
				attribute.String("db.query.text", fmt.Sprintf("SELECT * FROM items WHERE id = %d", 1000+k)))
			db.End(trace.WithTimestamp(cur.Add(d)))
			cur = cur.Add(d + 500*time.Microsecond)
		}
		cur = cur.Add(3 * ms)
		for k := range 3 {
			d := time.Duration(20+i%9+k) * ms
			_, pay := checkout.span(actx, "POST /charge", trace.SpanKindClient, cur, time.Time{},
				attribute.String("server.address", "api.payments.example"), attribute.String("http.request.method", "POST"))
			pay.End(trace.WithTimestamp(cur.Add(d)))
			cur = cur.Add(d + time.Millisecond)
		}
		cur = cur.Add(time.Duration(2+i%5) * ms)
		api.End(trace.WithTimestamp(cur))
		e.End(trace.WithTimestamp(cur.Add(3 * ms)))
		if i%13 == 0 {
			root.SetStatus(codes.Error, "upstream failed")
		}
		root.End(trace.WithTimestamp(cur.Add(time.Duration(4+i%3) * ms)))
	}
	for i := range 120 {
		s := t0.Add(time.Duration(i)*100*ms + 7*ms)
		rctx, root := cdn.span(ctx, "GET /products/:id", trace.SpanKindServer, s, time.Time{})
		ectx, e := edge.span(rctx, "GET /products/:id", trace.SpanKindServer, s.Add(ms), time.Time{})
		actx, api := catalog.span(ectx, "GET /products/{id}", trace.SpanKindServer, s.Add(2*ms), time.Time{},
			attribute.String("http.route", "/products/{id}"))
		d := time.Duration(1000+i*13%2000) * time.Microsecond
		_, db := catalog.span(actx, "SELECT shop.products", trace.SpanKindClient, s.Add(3*ms), time.Time{},
			attribute.String("db.system.name", "postgresql"), attribute.String("db.query.text", "SELECT name FROM products WHERE id = $1"))
		db.End(trace.WithTimestamp(s.Add(3*ms + d)))
		end := s.Add(4*ms + d + time.Duration(i%7)*ms)
		api.End(trace.WithTimestamp(end))
		e.End(trace.WithTimestamp(end.Add(ms)))
		root.End(trace.WithTimestamp(end.Add(2 * ms)))
	}
}

// testPolicy is a trilens.yaml with the two journeys, the CDN and edge hop
// rules and the detection thresholds the traffic above exercises.
const testPolicy = `
version: 1
journeys:
  - name: checkout
    match: [{ http_route: /checkout }]
    p95_ms: 300
    hops: { cdn: 30, edge: 40, api: 120, db: 80, margin: 30 }
  - name: browse
    match: [{ http_route: /products/* }, { attributes: { tenant.tier: gold } }]
hop_rules:
  - { service: cdn, hop: cdn }
  - { service: edge-*, hop: edge }
detections:
  window: 1m
  exemplars: 5
  n_plus_one: { min_similar_spans: 5 }
  serial_calls: { min_calls: 3, max_gap_ms: 5 }
  sync_third_party: { any_external_host: true, min_ms: 1 }
  slow_queries: { top_n: 10, min_total_ms: 1 }
`

func testPolicyT(t testing.TB) *policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte(testPolicy), "trilens.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestOTelExportersToEvents sends traces with the OpenTelemetry Go SDK's
// OTLP/HTTP and OTLP/gRPC exporters, and checks the published windows and
// detections against values computed here from the same spans.
func TestOTelExportersToEvents(t *testing.T) {
	b := newBus(t)
	cfg := testConfig()
	cfg.Policy = testPolicyT(t)
	c := startCollector(t, cfg, b, nil)
	ctx := context.Background()

	httpExp := func(opts ...otlptracehttp.Option) sdktrace.SpanExporter {
		exp, err := otlptracehttp.New(ctx, append([]otlptracehttp.Option{otlptracehttp.WithEndpoint(c.HTTPAddr()), otlptracehttp.WithInsecure()}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		return exp
	}
	grpcExp := func(opts ...otlptracegrpc.Option) sdktrace.SpanExporter {
		exp, err := otlptracegrpc.New(ctx, append([]otlptracegrpc.Option{otlptracegrpc.WithEndpoint(c.GRPCAddr()), otlptracegrpc.WithInsecure()}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		return exp
	}
	cdn := newService(t, "cdn", httpExp())
	edge := newService(t, "edge-proxy", grpcExp())
	checkout := newService(t, "checkout-api", httpExp(otlptracehttp.WithCompression(otlptracehttp.GzipCompression)))
	catalog := newService(t, "catalog-api", grpcExp(otlptracegrpc.WithCompressor("gzip")))
	services := []*service{cdn, edge, checkout, catalog}

	t0 := time.Now().Truncate(time.Minute).Add(-2 * time.Minute)
	traffic(t0, cdn, edge, checkout, catalog)
	for _, s := range services {
		if err := s.tp.Shutdown(ctx); err != nil {
			t.Fatalf("exporter: %v", err)
		}
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	var spans []sdktrace.ReadOnlySpan
	for _, s := range services {
		spans = append(spans, s.rec.Ended()...)
	}
	want := expect(spans)
	got := traceEvents(t, b)

	windows := map[string]*tracev1.Window{}
	var dets []*tracev1.Detection
	for _, ev := range got {
		env := ev.GetEnvelope()
		if env.GetSubject().GetEnvironment() != eventv1.Environment_ENVIRONMENT_PRODUCTION || env.GetTenant() != "default" {
			t.Errorf("event %s: environment %v tenant %q", env.GetEventId(), env.GetSubject().GetEnvironment(), env.GetTenant())
		}
		if env.GetPart().GetReportId() == "" || env.GetPart().GetCount() == 0 {
			t.Errorf("event %s has no part", env.GetEventId())
		}
		for _, w := range ev.GetTraceWindows().GetWindows() {
			windows[w.Service+"/"+w.Journey] = w
		}
		dets = append(dets, ev.GetTraceDetections().GetDetections()...)
	}
	if len(windows) != 2 {
		t.Fatalf("want the checkout and browse windows, got %v", keys(windows))
	}
	for name, wj := range want.journeys {
		w := windows[name]
		if w == nil {
			t.Fatalf("no window for %s; have %v", name, keys(windows))
		}
		if w.StartUnixNano != t0.UnixNano() || w.DurationNanos != int64(time.Minute) {
			t.Errorf("%s: window %v+%v, want %v+1m", name, time.Unix(0, w.StartUnixNano), time.Duration(w.DurationNanos), t0)
		}
		if w.Count != wj.count() || w.Errors != wj.errors {
			t.Errorf("%s: count %v errors %v, want %v %v", name, w.Count, w.Errors, wj.count(), wj.errors)
		}
		checkQuantiles(t, name, w.P50Ms, w.P95Ms, w.P99Ms, wj.durations)
		if w.MaxMs != wj.durations.max() {
			t.Errorf("%s: max %v, want %v", name, w.MaxMs, wj.durations.max())
		}
		hops := map[tracev1.HopClass]*tracev1.HopLatency{}
		for _, h := range w.Hops {
			hops[h.Hop] = h
		}
		if len(hops) != len(wj.hops) {
			t.Errorf("%s: hops %v, want %d classes", name, w.Hops, len(wj.hops))
		}
		for class, vals := range wj.hops {
			h := hops[class]
			if h == nil {
				t.Errorf("%s: no %v hop", name, class)
				continue
			}
			checkQuantiles(t, name+" "+class.String(), h.P50Ms, h.P95Ms, h.P99Ms, vals)
			if math.Abs(h.TotalMs-vals.sum()) > 1e-6*vals.sum() || h.Count != vals.count() {
				t.Errorf("%s %v: total %v count %v, want %v %v", name, class, h.TotalMs, h.Count, vals.sum(), vals.count())
			}
		}
	}

	byType := map[tracev1.DetectionType][]*tracev1.Detection{}
	for _, d := range dets {
		byType[d.Type] = append(byType[d.Type], d)
	}
	for typ, wd := range want.detections {
		ds := byType[typ]
		if len(ds) != 1 {
			t.Errorf("%v: want one detection, got %v", typ, ds)
			continue
		}
		d := ds[0]
		if d.Service != "checkout-api" || d.Journey != "checkout" || d.Operation != wd.operation || d.ParentOperation != "POST /checkout" {
			t.Errorf("%v: got %s/%s %q under %q, want checkout-api/checkout %q under POST /checkout", typ, d.Service, d.Journey, d.Operation, d.ParentOperation, wd.operation)
		}
		near(t, typ.String()+" occurrences", d.Occurrences, wd.occurrences)
		near(t, typ.String()+" affected", d.AffectedTraces, wd.affected)
		near(t, typ.String()+" total", d.TotalMs, wd.total)
		near(t, typ.String()+" savings", d.SavingsMs, wd.savings/wd.affected)
		if len(d.ExemplarTraceIds) != 5 {
			t.Errorf("%v: %d exemplars, want 5", typ, len(d.ExemplarTraceIds))
		}
		for _, id := range d.ExemplarTraceIds {
			if !want.checkoutTraces[id] {
				t.Errorf("%v: exemplar %s is not a checkout trace", typ, id)
			}
		}
	}
	// Slow queries: ranked by total time, the N+1 statement first.
	slow := byType[tracev1.DetectionType_DETECTION_TYPE_SLOW_QUERY]
	if len(slow) != 2 {
		t.Fatalf("want two slow-query rankings (one per window), got %v", slow)
	}
	for _, d := range slow {
		wq, ok := want.queries[d.Operation]
		if !ok {
			t.Errorf("unexpected slow query %q", d.Operation)
			continue
		}
		near(t, "slow query total "+d.Operation, d.TotalMs, wq.total)
		near(t, "slow query count "+d.Operation, d.Occurrences, wq.occurrences)
		near(t, "slow query traces "+d.Operation, d.AffectedTraces, wq.affected)
	}
	if n := len(byType[tracev1.DetectionType_DETECTION_TYPE_N_PLUS_ONE]) + len(byType[tracev1.DetectionType_DETECTION_TYPE_SERIAL_CALLS]) +
		len(byType[tracev1.DetectionType_DETECTION_TYPE_SYNC_THIRD_PARTY]) + len(slow); n != len(dets) {
		t.Errorf("unexpected detections: %v", dets)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-6*math.Max(1, math.Abs(want)) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

// checkQuantiles asserts p50/p95/p99 within 1% of the exact weighted quantiles.
func checkQuantiles(t *testing.T, what string, p50, p95, p99 float64, vals weighted) {
	t.Helper()
	for _, q := range []struct {
		q   float64
		got float64
	}{{0.5, p50}, {0.95, p95}, {0.99, p99}} {
		exact := vals.quantile(q.q)
		if math.Abs(q.got-exact) > 0.01*exact {
			t.Errorf("%s: p%v = %v, exact %v (off by %.3f%%)", what, q.q*100, q.got, exact, 100*math.Abs(q.got-exact)/exact)
		}
	}
}

// weighted values: a sampled trace stands for 1/p traces.
type weighted []struct{ v, w float64 }

func (ws *weighted) add(v, w float64) { *ws = append(*ws, struct{ v, w float64 }{v, w}) }

func (ws weighted) count() (n float64) {
	for _, x := range ws {
		n += x.w
	}
	return n
}

func (ws weighted) sum() (n float64) {
	for _, x := range ws {
		n += x.v * x.w
	}
	return n
}

func (ws weighted) max() (m float64) {
	for _, x := range ws {
		m = math.Max(m, x.v)
	}
	return m
}

// quantile is the value at rank q·(n−1) of the weighted values in order:
// the definition DDSketch bounds its relative error against.
func (ws weighted) quantile(q float64) float64 {
	s := slices.Clone(ws)
	slices.SortFunc(s, func(a, b struct{ v, w float64 }) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	})
	rank := q * (s.count() - 1)
	var cum float64
	for _, x := range s {
		cum += x.w
		if cum > rank {
			return x.v
		}
	}
	return s[len(s)-1].v
}

type journeyWant struct {
	durations weighted
	errors    float64
	hops      map[tracev1.HopClass]weighted
}

func (j *journeyWant) count() float64 { return j.durations.count() }

type detectionWant struct {
	operation                             string
	occurrences, affected, total, savings float64
}

type want struct {
	journeys       map[string]*journeyWant
	detections     map[tracev1.DetectionType]*detectionWant
	queries        map[string]*detectionWant
	checkoutTraces map[string]bool
}

func durMs(s sdktrace.ReadOnlySpan) float64 { return float64(s.EndTime().Sub(s.StartTime())) / 1e6 }

// expect computes what the collector should publish, from the recorded spans
// and by simpler means than the collector's: in these traces children never
// overlap, so a span's own time is its duration less its children's, and
// the critical path is every span's own time.
func expect(spans []sdktrace.ReadOnlySpan) *want {
	w := &want{
		journeys:       map[string]*journeyWant{},
		detections:     map[tracev1.DetectionType]*detectionWant{},
		queries:        map[string]*detectionWant{},
		checkoutTraces: map[string]bool{},
	}
	byTrace := map[trace.TraceID][]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byTrace[s.SpanContext().TraceID()] = append(byTrace[s.SpanContext().TraceID()], s)
	}
	class := func(s sdktrace.ReadOnlySpan) tracev1.HopClass {
		switch {
		case s.Resource().String() != "" && strings.Contains(s.Resource().String(), "service.name=cdn"):
			return tracev1.HopClass_HOP_CLASS_CDN
		case strings.Contains(s.Resource().String(), "service.name=edge-proxy"):
			return tracev1.HopClass_HOP_CLASS_EDGE
		case strings.HasPrefix(s.Name(), "SELECT"):
			return tracev1.HopClass_HOP_CLASS_DB
		case s.Name() == "POST /charge":
			return tracev1.HopClass_HOP_CLASS_EXTERNAL
		}
		return tracev1.HopClass_HOP_CLASS_API
	}
	det := func(typ tracev1.DetectionType, op string) *detectionWant {
		d := w.detections[typ]
		if d == nil {
			d = &detectionWant{operation: op}
			w.detections[typ] = d
		}
		return d
	}
	for id, ts := range byTrace {
		var root sdktrace.ReadOnlySpan
		children := map[trace.SpanID][]sdktrace.ReadOnlySpan{}
		for _, s := range ts {
			if !s.Parent().IsValid() {
				root = s
			} else {
				children[s.Parent().SpanID()] = append(children[s.Parent().SpanID()], s)
			}
		}
		weight := 1.0
		if root.SpanContext().TraceState().String() == "ot=th:8" {
			weight = 2
		}
		name := "catalog-api/browse"
		if root.Name() == "GET /checkout" {
			name = "checkout-api/checkout"
			w.checkoutTraces[id.String()] = true
		}
		j := w.journeys[name]
		if j == nil {
			j = &journeyWant{hops: map[tracev1.HopClass]weighted{}}
			w.journeys[name] = j
		}
		j.durations.add(durMs(root), weight)
		if root.Status().Code == codes.Error {
			j.errors += weight
		}
		hop := map[tracev1.HopClass]float64{}
		for _, s := range ts {
			self := durMs(s)
			for _, c := range children[s.SpanContext().SpanID()] {
				self -= durMs(c)
			}
			hop[class(s)] += self
		}
		for c, v := range hop {
			h := j.hops[c]
			h.add(v, weight)
			j.hops[c] = h
		}
		for _, s := range ts {
			var db, pay []sdktrace.ReadOnlySpan
			for _, c := range children[s.SpanContext().SpanID()] {
				switch class(c) {
				case tracev1.HopClass_HOP_CLASS_DB:
					db = append(db, c)
				case tracev1.HopClass_HOP_CLASS_EXTERNAL:
					pay = append(pay, c)
				}
			}
			if len(db) >= 5 {
				d := det(tracev1.DetectionType_DETECTION_TYPE_N_PLUS_ONE, "SELECT * FROM items WHERE id = ?")
				addRun(d, db, weight)
			}
			if len(pay) >= 3 {
				addRun(det(tracev1.DetectionType_DETECTION_TYPE_SERIAL_CALLS, "POST /charge@api.payments.example ×3"), pay, weight)
				// Made asynchronous, the calls would leave the critical path whole.
				d := det(tracev1.DetectionType_DETECTION_TYPE_SYNC_THIRD_PARTY, "api.payments.example POST /charge")
				d.occurrences += float64(len(pay)) * weight
				d.affected += weight
				d.total += sumMs(pay) * weight
				d.savings += sumMs(pay) * weight
			}
			for _, c := range db {
				stmt := "SELECT * FROM items WHERE id = ?"
				if strings.Contains(c.Name(), "products") {
					stmt = "SELECT name FROM products WHERE id = ?"
				}
				q := w.queries[stmt]
				if q == nil {
					q = &detectionWant{operation: stmt}
					w.queries[stmt] = q
				}
				q.occurrences += weight
				q.total += durMs(c) * weight
			}
			if len(db) > 0 {
				stmt := "SELECT * FROM items WHERE id = ?"
				if strings.Contains(db[0].Name(), "products") {
					stmt = "SELECT name FROM products WHERE id = ?"
				}
				w.queries[stmt].affected += weight
			}
		}
	}
	return w
}

func sumMs(s []sdktrace.ReadOnlySpan) (n float64) {
	for _, x := range s {
		n += durMs(x)
	}
	return n
}

func maxMs(s []sdktrace.ReadOnlySpan) (m float64) {
	for _, x := range s {
		m = math.Max(m, durMs(x))
	}
	return m
}

// addRun adds one trace's run of similar calls; fixing it (batching or
// running in parallel) would leave only the longest.
func addRun(d *detectionWant, run []sdktrace.ReadOnlySpan, weight float64) {
	d.occurrences += float64(len(run)) * weight
	d.affected += weight
	d.total += sumMs(run) * weight
	d.savings += (sumMs(run) - maxMs(run)) * weight
}
