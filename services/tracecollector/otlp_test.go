package tracecollector

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/natstest"
	tracev1 "github.com/trilens/trilens/proto/trilens/trace/v1"
)

// request builds an export request of n spans in one trace; n > 1 makes the
// first span the root and the rest its DB children.
func request(n int, start time.Time) ptraceotlp.ExportRequest {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "shop")
	ss := rs.ScopeSpans().AppendEmpty().Spans()
	tid := pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(n)}
	for i := range n {
		s := ss.AppendEmpty()
		s.SetTraceID(tid)
		s.SetSpanID(pcommon.SpanID{0, 0, 0, 0, 0, 0, byte(i >> 8), byte(i + 1)})
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i) * time.Millisecond)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i+1) * time.Millisecond)))
		s.SetName("span")
		if i > 0 {
			s.SetParentSpanID(pcommon.SpanID{0, 0, 0, 0, 0, 0, 0, 1})
			s.SetKind(ptrace.SpanKindClient)
			s.Attributes().PutStr("db.system.name", "mysql")
			s.Attributes().PutStr("db.query.text", fmt.Sprintf("select * from t where id = %d", i))
		} else {
			s.SetKind(ptrace.SpanKindServer)
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(n+1) * time.Millisecond)))
		}
	}
	return ptraceotlp.NewExportRequestFromTraces(td)
}

func protoBody(t *testing.T, r ptraceotlp.ExportRequest) []byte {
	t.Helper()
	b, err := r.MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(t *testing.T, url, ct string, body []byte, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// statusBody decodes the google.rpc.Status OTLP/HTTP puts in error bodies.
func statusBody(t *testing.T, resp *http.Response) *spb.Status {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	st := &spb.Status{}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		err = protojson.Unmarshal(b, st)
	} else {
		err = proto.Unmarshal(b, st)
	}
	if err != nil || st.Message == "" {
		t.Fatalf("error body %q is not a google.rpc.Status: %v", b, err)
	}
	return st
}

func TestHTTPResponses(t *testing.T) {
	cfg := testConfig()
	cfg.MaxRequestBytes = 1 << 20
	cfg.MaxQueuedSpans = 10
	c := startCollector(t, cfg, natstest.Bus(t), nil)
	url := "http://" + c.HTTPAddr() + "/v1/traces"
	now := time.Now()

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(protoBody(t, request(3, now)))
	_ = zw.Close()
	okJSON, _ := request(3, now).MarshalJSON()
	bomb := bytes.Repeat([]byte{0}, 4<<20)
	var gzBomb bytes.Buffer
	zw = gzip.NewWriter(&gzBomb)
	_, _ = zw.Write(bomb)
	_ = zw.Close()
	partial := request(3, now)
	partial.Traces().ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(2).SetSpanID(pcommon.SpanID{})
	// A service name the scorer could not group by: its spans are refused, with the reason.
	longService := request(3, now)
	longService.Traces().ResourceSpans().At(0).Resource().Attributes().PutStr("service.name", strings.Repeat("s", 600<<10))

	for _, tc := range []struct {
		name, ct   string
		body       []byte
		hdr        []string
		status     int
		retryAfter bool
		rejected   int64
	}{
		{name: "protobuf", ct: "application/x-protobuf", body: protoBody(t, request(3, now)), status: 200},
		{name: "gzip protobuf", ct: "application/x-protobuf", body: gz.Bytes(), hdr: []string{"Content-Encoding", "gzip"}, status: 200},
		{name: "json", ct: "application/json", body: okJSON, status: 200},
		{name: "partial success", ct: "application/x-protobuf", body: protoBody(t, partial), status: 200, rejected: 1},
		{name: "unscorable service name", ct: "application/x-protobuf", body: protoBody(t, longService), status: 200, rejected: 3},
		{name: "malformed protobuf", ct: "application/x-protobuf", body: []byte{0x0a, 0xff, 0xff, 0x01}, status: 400},
		{name: "malformed json", ct: "application/json", body: []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]`), status: 400},
		{name: "not json", ct: "application/json", body: []byte(`{"resourceSpans": [`), status: 400},
		{name: "unknown media type", ct: "text/plain", body: []byte("hi"), status: 415},
		{name: "oversized", ct: "application/x-protobuf", body: make([]byte, 1<<20+1), status: 413},
		{name: "gzip bomb", ct: "application/x-protobuf", body: gzBomb.Bytes(), hdr: []string{"Content-Encoding", "gzip"}, status: 413},
		{name: "overload", ct: "application/x-protobuf", body: protoBody(t, request(11, now)), status: 429, retryAfter: true},
		{name: "bad environment", ct: "application/x-protobuf", body: protoBody(t, request(3, now)), hdr: []string{"X-Trilens-Env", "moon"}, status: 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, url, tc.ct, tc.body, tc.hdr...)
			if resp.StatusCode != tc.status {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			if got := resp.Header.Get("Retry-After") != ""; got != tc.retryAfter {
				t.Errorf("Retry-After %q, want present=%v", resp.Header.Get("Retry-After"), tc.retryAfter)
			}
			if tc.status != 200 {
				st := statusBody(t, resp)
				t.Logf("%d: %s", resp.StatusCode, st.Message)
				return
			}
			if want := tc.ct; !strings.HasPrefix(resp.Header.Get("Content-Type"), want) {
				t.Errorf("response Content-Type %q, want %q", resp.Header.Get("Content-Type"), want)
			}
			b, _ := io.ReadAll(resp.Body)
			er := ptraceotlp.NewExportResponse()
			var err error
			if tc.ct == "application/json" {
				err = er.UnmarshalJSON(b)
			} else {
				err = er.UnmarshalProto(b)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := er.PartialSuccess().RejectedSpans(); got != tc.rejected {
				t.Errorf("rejected %d, want %d (%q)", got, tc.rejected, er.PartialSuccess().ErrorMessage())
			}
			if tc.rejected > 0 && er.PartialSuccess().ErrorMessage() == "" {
				t.Error("partial success without an error message")
			}
			if tc.rejected > 0 {
				t.Logf("partial success: %.120s", er.PartialSuccess().ErrorMessage())
			}
		})
	}
}

func TestHTTPAuthAndShutdown(t *testing.T) {
	cfg := testConfig()
	c := startCollector(t, cfg, natstest.Bus(t), collect.NewAuth([]collect.Token{{ID: "ci", Tenant: "acme", Role: collect.RoleIngest, SHA256: collect.HashToken("s3cret")}}))
	// The runner's own server takes OTLP/HTTP too.
	mux := http.NewServeMux()
	c.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	body := protoBody(t, request(2, time.Now()))
	if resp := post(t, srv.URL+"/v1/traces", "application/x-protobuf", body); resp.StatusCode != 401 {
		t.Errorf("no token: %d, want 401", resp.StatusCode)
	}
	if resp := post(t, srv.URL+"/v1/traces", "application/x-protobuf", body, "Authorization", "Bearer s3cret"); resp.StatusCode != 200 {
		t.Errorf("with token: %d, want 200", resp.StatusCode)
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp := post(t, srv.URL+"/v1/traces", "application/x-protobuf", body, "Authorization", "Bearer s3cret")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("after stop: %d Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	statusBody(t, resp)
}

func TestGRPCResponses(t *testing.T) {
	cfg := testConfig()
	cfg.MaxQueuedSpans = 10
	cfg.MaxRequestBytes = 64 << 10
	c := startCollector(t, cfg, natstest.Bus(t), collect.NewAuth([]collect.Token{{ID: "ci", Tenant: "acme", Role: collect.RoleIngest, SHA256: collect.HashToken("s3cret")}}))
	cc, err := grpc.NewClient(c.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := ptraceotlp.NewGRPCClient(cc)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer s3cret")
	now := time.Now()

	if _, err := client.Export(context.Background(), request(2, now)); status.Code(err) != codes.Unauthenticated {
		t.Errorf("no token: %v, want Unauthenticated", err)
	}
	partial := request(3, now)
	partial.Traces().ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(1).SetTraceID(pcommon.TraceID{})
	resp, err := client.Export(ctx, partial)
	if err != nil || resp.PartialSuccess().RejectedSpans() != 1 {
		t.Errorf("partial: %v rejected %d, want 1", err, resp.PartialSuccess().RejectedSpans())
	}
	_, err = client.Export(ctx, request(11, now))
	st := status.Convert(err)
	if st.Code() != codes.Unavailable {
		t.Fatalf("overload: %v, want Unavailable", err)
	}
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			retry = ri
		}
	}
	if retry == nil || retry.RetryDelay.AsDuration() <= 0 {
		t.Errorf("overload: no RetryInfo in %v", st.Details())
	}
	big := request(2, now)
	big.Traces().ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetName(strings.Repeat("x", 70<<10))
	if _, err := client.Export(ctx, big); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("oversized: %v, want ResourceExhausted", err)
	}
}

// TestJSONHexIDs: OTLP/JSON writes trace and span ids as hex, where plain
// protojson would read base64 and get different ids.
func TestJSONHexIDs(t *testing.T) {
	b := natstest.Bus(t)
	cfg := testConfig()
	c := startCollector(t, cfg, b, nil)
	const traceID = "5b8efff798038103d269b633813fc60c"
	start := int64(1_700_000_000_000_000_000)
	var spans []string
	spans = append(spans, fmt.Sprintf(`{"traceId":%q,"spanId":"eee19b7ec3c1b174","name":"GET /orders","kind":2,"startTimeUnixNano":"%d","endTimeUnixNano":"%d","attributes":[{"key":"http.route","value":{"stringValue":"/orders"}}]}`, traceID, start, start+50e6))
	for i := range 6 {
		spans = append(spans, fmt.Sprintf(`{"traceId":%q,"spanId":"00000000000000%02x","parentSpanId":"eee19b7ec3c1b174","name":"q","kind":3,"startTimeUnixNano":"%d","endTimeUnixNano":"%d","attributes":[{"key":"db.system","value":{"stringValue":"postgresql"}},{"key":"db.statement","value":{"stringValue":"SELECT * FROM lines WHERE order_id = %d"}}]}`,
			traceID, i+1, start+int64(i+1)*5e6, start+int64(i+2)*5e6, i))
	}
	body := `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"orders"}},{"key":"deployment.environment.name","value":{"stringValue":"staging"}}]},"scopeSpans":[{"spans":[` + strings.Join(spans, ",") + `]}]}]}`
	if resp := post(t, "http://"+c.HTTPAddr()+"/v1/traces", "application/json", []byte(body)); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	var n1 *tracev1.Detection
	var win *tracev1.Window
	for _, ev := range traceEvents(t, b) {
		if ev.GetEnvelope().GetSubject().GetEnvironment().String() != "ENVIRONMENT_STAGING" {
			t.Errorf("environment %v, want staging", ev.GetEnvelope().GetSubject().GetEnvironment())
		}
		for _, d := range ev.GetTraceDetections().GetDetections() {
			if d.Type == tracev1.DetectionType_DETECTION_TYPE_N_PLUS_ONE {
				n1 = d
			}
		}
		if ws := ev.GetTraceWindows().GetWindows(); len(ws) == 1 {
			win = ws[0]
		}
	}
	if win == nil || win.Count != 1 || win.P50Ms < 49.5 || win.P50Ms > 50.5 || win.StartUnixNano != start-start%int64(time.Minute) {
		t.Fatalf("window %v", win)
	}
	if n1 == nil || len(n1.ExemplarTraceIds) != 1 || n1.ExemplarTraceIds[0] != traceID || n1.Operation != "SELECT * FROM lines WHERE order_id = ?" || n1.Occurrences != 6 {
		t.Fatalf("N+1 %v, want exemplar %s", n1, traceID)
	}
}
