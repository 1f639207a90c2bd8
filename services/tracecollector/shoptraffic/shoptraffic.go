// Package shoptraffic is the trace lens's reference traffic, made with the
// real OpenTelemetry Go SDK and exported with its real OTLP exporters: a shop
// whose checkout has an N+1 query and three serial calls to a payment API,
// beside fast product pages, behind a CDN and an edge proxy. Shop.Expect
// computes from the very spans, independently of the collector, what the
// lens must report.
package shoptraffic

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	tracev1 "github.com/trilens/trilens/proto/trilens/trace/v1"
)

// Policy is a trilens.yaml with the two journeys, the CDN and edge hop
// rules and the detection thresholds the traffic exercises.
const Policy = `
version: 1
journeys:
  - name: checkout
    owner: team-checkout
    match: [{ http_route: /checkout }]
    p95_ms: 300
    error_rate: 0.01
    # The checkout's eight queries take about 40 ms: the DB hop breaks its budget.
    hops: { cdn: 30, edge: 40, api: 120, db: 30, margin: 80 }
  - name: browse
    match: [{ http_route: /products/* }, { attributes: { tenant.tier: gold } }]
    p95_ms: 40
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

// Service is one instrumented service: a tracer provider exporting with a
// real OTLP exporter, and a recorder keeping the same spans for Expect.
type Service struct {
	tp  *sdktrace.TracerProvider
	rec *tracetest.SpanRecorder
	tr  trace.Tracer
}

// NewService instruments a service called name that exports with exp.
func NewService(name string, exp sdktrace.SpanExporter) *Service {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(resource.NewSchemaless(
			attribute.String("service.name", name), attribute.String("deployment.environment.name", "production"))),
		sdktrace.WithBatcher(exp, sdktrace.WithMaxExportBatchSize(200)),
		sdktrace.WithSpanProcessor(rec),
		sdktrace.WithSampler(halfSampler{}),
	)
	return &Service{tp: tp, rec: rec, tr: tp.Tracer("shoptraffic")}
}

// span starts a span at a fixed time; the caller ends it at a fixed time.
func (s *Service) span(ctx context.Context, name string, kind trace.SpanKind, start, _ time.Time, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return s.tr.Start(ctx, name, trace.WithSpanKind(kind), trace.WithTimestamp(start), trace.WithAttributes(attrs...))
}

// Shop is the four services: the CDN (service "cdn"), the edge proxy
// ("edge-proxy"), the checkout API and the catalog API.
type Shop struct {
	CDN, Edge, Checkout, Catalog *Service
	opts                         options
}

// options are what a Shop's Options change; the zero value is the traffic
// the collector's tests expect.
type options struct {
	prefix       string
	catalog      string
	paymentDelay time.Duration
	headers      map[string]string
}

// Option changes the traffic a Shop makes.
type Option func(*options)

// WithRoutePrefix puts prefix (such as "/api") before every route and
// entry span name, to match a policy's journeys.
func WithRoutePrefix(prefix string) Option { return func(o *options) { o.prefix = prefix } }

// WithCatalogService names the catalog API's service (default "catalog-api").
func WithCatalogService(name string) Option { return func(o *options) { o.catalog = name } }

// WithHeaders sends headers (such as X-Trilens-Tenant) with every export.
func WithHeaders(h map[string]string) Option { return func(o *options) { o.headers = h } }

// WithPaymentDelay adds d to each of the three serial payment calls, to put
// the checkout journey over its latency budget.
func WithPaymentDelay(d time.Duration) Option { return func(o *options) { o.paymentDelay = d } }

// NewShop instruments the four services with the SDK's real OTLP exporters,
// mixing transports as a real fleet does: the CDN over OTLP/HTTP, the edge
// proxy over OTLP/gRPC, the checkout API over gzipped OTLP/HTTP and the
// catalog over gzipped OTLP/gRPC.
func NewShop(ctx context.Context, httpAddr, grpcAddr string, opts ...Option) (*Shop, error) {
	o := options{catalog: "catalog-api"}
	for _, opt := range opts {
		opt(&o)
	}
	var errs []error
	httpExp := func(opts ...otlptracehttp.Option) sdktrace.SpanExporter {
		exp, err := otlptracehttp.New(ctx, append([]otlptracehttp.Option{otlptracehttp.WithEndpoint(httpAddr), otlptracehttp.WithInsecure(),
			otlptracehttp.WithHeaders(o.headers)}, opts...)...)
		errs = append(errs, err)
		return exp
	}
	grpcExp := func(opts ...otlptracegrpc.Option) sdktrace.SpanExporter {
		exp, err := otlptracegrpc.New(ctx, append([]otlptracegrpc.Option{otlptracegrpc.WithEndpoint(grpcAddr), otlptracegrpc.WithInsecure(),
			otlptracegrpc.WithHeaders(o.headers)}, opts...)...)
		errs = append(errs, err)
		return exp
	}
	sh := &Shop{
		CDN:      NewService("cdn", httpExp()),
		Edge:     NewService("edge-proxy", grpcExp()),
		Checkout: NewService("checkout-api", httpExp(otlptracehttp.WithCompression(otlptracehttp.GzipCompression))),
		Catalog:  NewService(o.catalog, grpcExp(otlptracegrpc.WithCompressor("gzip"))),
		opts:     o,
	}
	if err := errors.Join(errs...); err != nil {
		_ = sh.Shutdown(ctx)
		return nil, err
	}
	return sh, nil
}

func (sh *Shop) services() []*Service { return []*Service{sh.CDN, sh.Edge, sh.Checkout, sh.Catalog} }

// Shutdown flushes every service's exporter.
func (sh *Shop) Shutdown(ctx context.Context) error {
	var errs []error
	for _, s := range sh.services() {
		errs = append(errs, s.tp.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

const ms = time.Millisecond

// Run makes the traffic: 40 checkout traces (an N+1 of eight queries, three
// serial calls to a payment API; every other one sampled at 1/2, one in 13
// failing) and 120 fast product-page traces, through a CDN and an edge
// proxy, from t0 on. Spans reach the exporters when the services shut down.
func (sh *Shop) Run(t0 time.Time) {
	ctx := context.Background()
	cdn, edge, checkout, catalog := sh.CDN, sh.Edge, sh.Checkout, sh.Catalog
	pre := sh.opts.prefix
	for i := range 40 {
		s := t0.Add(time.Duration(i) * 250 * ms)
		sampled := attribute.Bool("test.sampled", i%2 == 0)
		rctx, root := cdn.span(ctx, "GET "+pre+"/checkout", trace.SpanKindServer, s, time.Time{}, sampled)
		ectx, e := edge.span(rctx, "GET "+pre+"/checkout", trace.SpanKindServer, s.Add(2*ms), time.Time{})
		actx, api := checkout.span(ectx, "POST "+pre+"/checkout", trace.SpanKindServer, s.Add(5*ms), time.Time{},
			attribute.String("http.route", pre+"/checkout"))
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
			d := time.Duration(20+i%9+k)*ms + sh.opts.paymentDelay
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
		rctx, root := cdn.span(ctx, "GET "+pre+"/products/:id", trace.SpanKindServer, s, time.Time{})
		ectx, e := edge.span(rctx, "GET "+pre+"/products/:id", trace.SpanKindServer, s.Add(ms), time.Time{})
		actx, api := catalog.span(ectx, "GET "+pre+"/products/{id}", trace.SpanKindServer, s.Add(2*ms), time.Time{},
			attribute.String("http.route", pre+"/products/{id}"))
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

// Weighted values: a sampled trace stands for 1/p traces.
type Weighted []Value

// Value is one value and its weight.
type Value struct{ V, W float64 }

func (ws *Weighted) add(v, w float64) { *ws = append(*ws, Value{v, w}) }

// Count is the total weight.
func (ws Weighted) Count() (n float64) {
	for _, x := range ws {
		n += x.W
	}
	return n
}

// Sum is the weighted sum.
func (ws Weighted) Sum() (n float64) {
	for _, x := range ws {
		n += x.V * x.W
	}
	return n
}

// Max is the largest value.
func (ws Weighted) Max() (m float64) {
	for _, x := range ws {
		m = math.Max(m, x.V)
	}
	return m
}

// quantile is the value at rank q·(n−1) of the weighted values in order:
// the definition DDSketch bounds its relative error against.
func (ws Weighted) Quantile(q float64) float64 {
	s := slices.Clone(ws)
	slices.SortFunc(s, func(a, b Value) int {
		switch {
		case a.V < b.V:
			return -1
		case a.V > b.V:
			return 1
		}
		return 0
	})
	rank := q * (s.Count() - 1)
	var cum float64
	for _, x := range s {
		cum += x.W
		if cum > rank {
			return x.V
		}
	}
	return s[len(s)-1].V
}

// Journey is what one journey's window must hold: root durations (ms),
// errors, and per hop class each trace's time on the critical path (ms).
type Journey struct {
	Durations Weighted
	Errors    float64
	Hops      map[tracev1.HopClass]Weighted
}

// Detection is what one detection must add up to over the window; Savings
// is the total, the collector reports it per affected trace.
type Detection struct {
	Operation                             string
	Occurrences, Affected, Total, Savings float64
}

// Want is what the lens must report for the traffic.
type Want struct {
	// Journeys by "service/journey".
	Journeys   map[string]*Journey
	Detections map[tracev1.DetectionType]*Detection
	// Queries by normalised statement, for the slow-query ranking.
	Queries        map[string]*Detection
	CheckoutTraces map[string]bool
}

func durMs(s sdktrace.ReadOnlySpan) float64 { return float64(s.EndTime().Sub(s.StartTime())) / 1e6 }

// Expect computes what the lens should report from the spans the services
// recorded, by simpler means than the collector's: in these traces children
// never overlap, so a span's own time is its duration less its children's,
// and the critical path is every span's own time.
func (sh *Shop) Expect() *Want {
	var spans []sdktrace.ReadOnlySpan
	for _, s := range sh.services() {
		spans = append(spans, s.rec.Ended()...)
	}
	w := &Want{
		Journeys:       map[string]*Journey{},
		Detections:     map[tracev1.DetectionType]*Detection{},
		Queries:        map[string]*Detection{},
		CheckoutTraces: map[string]bool{},
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
	det := func(typ tracev1.DetectionType, op string) *Detection {
		d := w.Detections[typ]
		if d == nil {
			d = &Detection{Operation: op}
			w.Detections[typ] = d
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
		name := sh.opts.catalog + "/browse"
		if root.Name() == "GET "+sh.opts.prefix+"/checkout" {
			name = "checkout-api/checkout"
			w.CheckoutTraces[id.String()] = true
		}
		j := w.Journeys[name]
		if j == nil {
			j = &Journey{Hops: map[tracev1.HopClass]Weighted{}}
			w.Journeys[name] = j
		}
		j.Durations.add(durMs(root), weight)
		if root.Status().Code == codes.Error {
			j.Errors += weight
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
			h := j.Hops[c]
			h.add(v, weight)
			j.Hops[c] = h
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
				d.Occurrences += float64(len(pay)) * weight
				d.Affected += weight
				d.Total += sumMs(pay) * weight
				d.Savings += sumMs(pay) * weight
			}
			for _, c := range db {
				stmt := "SELECT * FROM items WHERE id = ?"
				if strings.Contains(c.Name(), "products") {
					stmt = "SELECT name FROM products WHERE id = ?"
				}
				q := w.Queries[stmt]
				if q == nil {
					q = &Detection{Operation: stmt}
					w.Queries[stmt] = q
				}
				q.Occurrences += weight
				q.Total += durMs(c) * weight
			}
			if len(db) > 0 {
				stmt := "SELECT * FROM items WHERE id = ?"
				if strings.Contains(db[0].Name(), "products") {
					stmt = "SELECT name FROM products WHERE id = ?"
				}
				w.Queries[stmt].Affected += weight
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
func addRun(d *Detection, run []sdktrace.ReadOnlySpan, weight float64) {
	d.Occurrences += float64(len(run)) * weight
	d.Affected += weight
	d.Total += sumMs(run) * weight
	d.Savings += (sumMs(run) - maxMs(run)) * weight
}
