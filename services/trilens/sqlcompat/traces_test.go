package sqlcompat

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/store"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// sendTraces posts OTLP traces of the policy's two journeys since the
// start of the current minute (the trace lens counts older ones as late
// for their closed windows): checkouts through the CDN with an N+1 query, three serial calls
// to the payment API and a few errors, and product pages. The trace lens
// turns them into latency windows, hops and detections.
func sendTraces(t *testing.T, base, tenant string, now time.Time) {
	td := ptrace.NewTraces()
	spans := map[string]ptrace.SpanSlice{}
	scope := func(service string) ptrace.SpanSlice {
		if s, ok := spans[service]; ok {
			return s
		}
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		rs.Resource().Attributes().PutStr("deployment.environment.name", "production")
		spans[service] = rs.ScopeSpans().AppendEmpty().Spans()
		return spans[service]
	}
	start := now.Truncate(time.Minute)
	step := now.Sub(start) / 90
	for i := range 90 {
		tid := pcommon.TraceID{byte(i), byte(i >> 8), 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 1}
		n := 0
		span := func(service, name string, kind ptrace.SpanKind, parent pcommon.SpanID, s, e time.Time) ptrace.Span {
			n++
			sp := scope(service).AppendEmpty()
			sp.SetTraceID(tid)
			sp.SetSpanID(pcommon.SpanID{byte(n), byte(i), byte(i >> 8), 9, 9, 9, 9, 1})
			sp.SetParentSpanID(parent)
			sp.SetName(name)
			sp.SetKind(kind)
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(s))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(e))
			return sp
		}
		at := start.Add(time.Duration(i) * step)
		if i%3 == 0 {
			end := at.Add(time.Duration(180+i) * time.Millisecond)
			root := span("cdn", "POST /api/checkout", ptrace.SpanKindServer, pcommon.SpanID{}, at, end)
			api := span("checkout-api", "POST /api/checkout", ptrace.SpanKindServer, root.SpanID(), at.Add(5*time.Millisecond), end.Add(-5*time.Millisecond))
			api.Attributes().PutStr("http.route", "/api/checkout")
			if i%9 == 0 {
				root.Status().SetCode(ptrace.StatusCodeError)
				api.Status().SetCode(ptrace.StatusCodeError)
			}
			cur := at.Add(10 * time.Millisecond)
			for k := range 8 {
				q := span("checkout-api", "SELECT", ptrace.SpanKindClient, api.SpanID(), cur, cur.Add(4*time.Millisecond))
				q.Attributes().PutStr("db.system.name", "postgresql")
				q.Attributes().PutStr("db.query.text", fmt.Sprintf("SELECT * FROM items WHERE id = %d", 1000+k))
				cur = cur.Add(5 * time.Millisecond)
			}
			for range 3 {
				c := span("checkout-api", "POST /v1/charges", ptrace.SpanKindClient, api.SpanID(), cur, cur.Add(30*time.Millisecond))
				c.Attributes().PutStr("server.address", "api.stripe.com")
				cur = cur.Add(31 * time.Millisecond)
			}
			continue
		}
		end := at.Add(time.Duration(40+i%30) * time.Millisecond)
		root := span("cdn", "GET /api/products/{id}", ptrace.SpanKindServer, pcommon.SpanID{}, at, end)
		api := span("catalog", "GET /api/products/{id}", ptrace.SpanKindServer, root.SpanID(), at.Add(2*time.Millisecond), end.Add(-2*time.Millisecond))
		api.Attributes().PutStr("http.route", "/api/products/{id}")
		q := span("catalog", "SELECT", ptrace.SpanKindClient, api.SpanID(), at.Add(5*time.Millisecond), at.Add(25*time.Millisecond))
		q.Attributes().PutStr("db.system.name", "postgresql")
		q.Attributes().PutStr("db.query.text", "SELECT name FROM products WHERE id = $1")
	}
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+"/v1/traces?tenant="+tenant, "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/traces: %s", resp.Status)
	}
	er := ptraceotlp.NewExportResponse()
	if err := er.UnmarshalProto(answer); err != nil {
		t.Fatal(err)
	}
	if ps := er.PartialSuccess(); ps.RejectedSpans() > 0 {
		t.Fatalf("POST /v1/traces: %d spans rejected: %s", ps.RejectedSpans(), ps.ErrorMessage())
	}
}

// waitRows waits until table holds rows of tenant, read through st (a
// store without the recorder: the test's own polling is not the code's).
func waitRows(t *testing.T, st *store.Store, table, tenant string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var n uint64
		err := st.Conn().QueryRow(context.Background(), "SELECT count() FROM "+st.Database()+"."+table+" WHERE tenant = ?", tenant).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			// Say what did arrive.
			var kinds []string
			rows, err := st.Conn().Query(context.Background(), "SELECT DISTINCT kind FROM "+st.Database()+".evidence_log WHERE tenant = ?", tenant)
			for err == nil && rows.Next() {
				var k string
				err = rows.Scan(&k)
				kinds = append(kinds, k)
			}
			if rows != nil {
				rows.Close()
			}
			t.Logf("evidence kinds stored: %v (%v)", kinds, err)
			t.Fatalf("no %s rows within 2 minutes", table)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
