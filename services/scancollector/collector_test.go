package scancollector

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/natstest"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, natstest.LeakOptions()...) }

type env struct {
	bus *bus.Bus
	srv *httptest.Server
}

// newEnv runs a collector on a real embedded NATS server.
func newEnv(t *testing.T, mutate func(*Config, *collect.Settings)) *env {
	t.Helper()
	b := natstest.Bus(t)
	var cfg Config
	cfg.RegisterFlags("", flag.NewFlagSet("", flag.ContinueOnError))
	cfg.TempDir = t.TempDir()
	set := collect.Settings{Logger: slog.New(slog.DiscardHandler), Publisher: b}
	if mutate != nil {
		mutate(&cfg, &set)
	}
	c, err := New(cfg, set)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{bus: b, srv: srv}
}

func (e *env) post(t *testing.T, body io.Reader, query string, hdr map[string]string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/scans?"+query, body)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// events reads every scan event on the evidence stream.
func (e *env) events(t *testing.T) []*eventv1.Event {
	t.Helper()
	ctx := context.Background()
	s, err := e.bus.JetStream().Stream(ctx, bus.StreamEvidence)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*eventv1.Event
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		ev := &eventv1.Event{}
		if err := proto.Unmarshal(m.Data, ev); err != nil {
			t.Fatal(err)
		}
		if m.Header.Get(jetstream.MsgIDHeader) != ev.GetEnvelope().GetEventId() {
			t.Fatalf("Nats-Msg-Id %q is not the event id", m.Header.Get(jetstream.MsgIDHeader))
		}
		out = append(out, ev)
	}
	return out
}

func TestIngestEveryFixture(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *collect.Settings) { c.PartSize = 4 })
	total := 0
	for name, format := range fixtures {
		doc := readFixture(t, name)
		rep, err := Decode(format, bytes.NewReader(doc), 0)
		if err != nil {
			t.Fatal(err)
		}
		code, body := e.post(t, bytes.NewReader(doc), "repo=acme/shop&commit=c1&branch=main&env=ci&tenant=acme", nil)
		if code != http.StatusAccepted {
			t.Fatalf("%s: %d %s", name, code, body)
		}
		var acc Accepted
		if err := json.Unmarshal(body, &acc); err != nil {
			t.Fatal(err)
		}
		if acc.Format != format || acc.Rows != rep.Count() || acc.Document.Size != int64(len(doc)) {
			t.Fatalf("%s: answer %+v, want format %s, %d rows, %d bytes", name, acc, format, rep.Count(), len(doc))
		}
		// The original is in the object store under its digest.
		r, err := e.bus.GetDocument(context.Background(), acc.Document.SHA256)
		if err != nil {
			t.Fatalf("%s: document: %v", name, err)
		}
		stored, _ := io.ReadAll(r)
		r.Close()
		if !bytes.Equal(stored, doc) {
			t.Fatalf("%s: stored document differs", name)
		}
		total += acc.Events
	}
	evs := e.events(t)
	if len(evs) != total {
		t.Fatalf("%d events on the stream, answers counted %d", len(evs), total)
	}
	parts := map[string][]uint32{}
	for _, ev := range evs {
		env := ev.GetEnvelope()
		if env.GetTenant() != "acme" || env.GetSubject().GetRepository() != "acme/shop" || env.GetSubject().GetEnvironment() != eventv1.Environment_ENVIRONMENT_CI {
			t.Fatalf("envelope %v", env)
		}
		if n := len(ev.GetScan().GetFindings()); n > 4 {
			t.Fatalf("part with %d findings, part size 4", n)
		}
		if env.GetDocument().GetSha256() == "" {
			t.Fatal("event carries no document reference")
		}
		p := env.GetPart()
		parts[p.GetReportId()] = append(parts[p.GetReportId()], p.GetIndex())
		if int(p.GetCount()) != len(parts[p.GetReportId()]) && p.GetIndex() == p.GetCount()-1 {
			t.Fatalf("report %s: last part %d of %d after %d parts", p.GetReportId(), p.GetIndex(), p.GetCount(), len(parts[p.GetReportId()]))
		}
	}
	if len(parts) != len(fixtures) {
		t.Fatalf("%d reports, want %d", len(parts), len(fixtures))
	}
}

func TestResubmittingPublishesNothingNew(t *testing.T) {
	e := newEnv(t, nil)
	doc := readFixture(t, "gosec.sarif")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(doc)
	zw.Close()
	var ids []string
	for _, body := range []io.Reader{bytes.NewReader(doc), bytes.NewReader(gz.Bytes())} {
		code, b := e.post(t, body, "repo=r&commit=c&branch=main", nil)
		if code != http.StatusAccepted {
			t.Fatalf("%d %s", code, b)
		}
		var acc Accepted
		json.Unmarshal(b, &acc)
		ids = append(ids, acc.ReportID)
	}
	if ids[0] != ids[1] {
		t.Fatalf("report ids %v differ for the same document and subject", ids)
	}
	if n := len(e.events(t)); n != 1 {
		t.Fatalf("%d events after two submissions, want 1", n)
	}
	// Another commit is another report.
	if code, b := e.post(t, bytes.NewReader(doc), "repo=r&commit=d&branch=main", nil); code != http.StatusAccepted {
		t.Fatalf("%d %s", code, b)
	}
	if n := len(e.events(t)); n != 2 {
		t.Fatalf("%d events, want 2", n)
	}
}

func TestRejectedBodiesPublishNothing(t *testing.T) {
	e := newEnv(t, func(_ *Config, s *collect.Settings) {
		s.Limits = collect.Limits{MaxBodyBytes: 1 << 20, MaxDecodedBytes: 4 << 20}
	})
	doc := readFixture(t, "trivy.json")
	bomb := func() io.Reader {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		zw.Write([]byte(`[`))
		zw.Write(bytes.Repeat([]byte(" "), 64<<20))
		zw.Close()
		return &b
	}
	for _, tc := range []struct {
		name  string
		body  io.Reader
		query string
		code  int
		want  string
	}{
		{"malformed", strings.NewReader(`{"SchemaVersion":2,"Results":[{"Target":1}]}`), "", 400, "trivy: at $.Results[0].Target"},
		{"truncated", bytes.NewReader(doc[:len(doc)*2/3]), "", 400, "trivy: at $.Results"},
		{"unknown", strings.NewReader(`{"hello":"world"}`), "", 415, `"tried":[{"format":"sarif","reason":"want a JSON object with \"runs\"`},
		{"not json", strings.NewReader(`<html>`), "", 415, `an XML document with root \u003chtml\u003e`},
		{"empty array", strings.NewReader(`[]`), "", 415, "an empty report names no tool"},
		{"wrong format", bytes.NewReader(doc), "format=zap", 400, "zap:"},
		{"bad format", bytes.NewReader(doc), "format=xml", 400, "unknown format"},
		{"too large", io.MultiReader(strings.NewReader(`[`), bytes.NewReader(bytes.Repeat([]byte(" "), 2<<20))), "", 413, "limit"},
		{"gzip bomb", bomb(), "", 413, "limit"},
		{"bad env", bytes.NewReader(doc), "env=moon", 400, "env"},
	} {
		code, body := e.post(t, tc.body, tc.query, nil)
		if code != tc.code || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: %d %s, want %d mentioning %q", tc.name, code, body, tc.code, tc.want)
		}
	}
	if n := len(e.events(t)); n != 0 {
		t.Fatalf("%d events published from rejected bodies", n)
	}
}

func TestEmptyReportStillTellsTheScorer(t *testing.T) {
	e := newEnv(t, nil)
	// Named by ?format=, or by a file name naming one tool that reads empty reports.
	code, body := e.post(t, strings.NewReader(`[]`), "repo=r&branch=main&format=gitleaks", nil)
	if code != http.StatusAccepted {
		t.Fatalf("%d %s", code, body)
	}
	code, body = e.post(t, strings.NewReader(`null`), "repo=r&branch=main&name=ci/gitleaks-report.json", nil)
	if code != http.StatusAccepted {
		t.Fatalf("%d %s", code, body)
	}
	evs := e.events(t)
	if len(evs) != 2 {
		t.Fatalf("%d events, want one complete empty part per report", len(evs))
	}
	for _, ev := range evs {
		if len(ev.GetScan().GetFindings()) != 0 || ev.GetEnvelope().GetPart().GetCount() != 1 || ev.GetScan().GetFormat() != FormatGitleaks {
			t.Fatalf("event %v, want a complete empty gitleaks part", ev)
		}
	}
	// A name naming no tool, or two, does not decide.
	for _, name := range []string{"report.json", "trivy-and-gitleaks.json"} {
		if code, body := e.post(t, strings.NewReader(`[]`), "repo=r&branch=main&name="+name, nil); code != http.StatusUnsupportedMediaType {
			t.Errorf("name %s: %d %s, want 415", name, code, body)
		}
	}
}

// A 100 MB report that turns out malformed near its end is rejected with
// the place of the error, after being decoded while streaming: the heap
// stays far below the body's size.
func TestLargeMalformedBodyIsRejectedWhileStreaming(t *testing.T) {
	e := newEnv(t, nil)
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(`{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"gosec"}},"results":[`))
		res := []byte(`{"ruleId":"G104","level":"warning","message":{"text":"` + strings.Repeat("x", 900) + `"},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"a.go"},"region":{"startLine":1}}}]},`)
		for written := 0; written < 100<<20; written += len(res) {
			if _, err := pw.Write(res); err != nil {
				return
			}
		}
		pw.Write([]byte(`{"ruleId":42}]}]}`))
		pw.Close()
	}()
	var peak uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
		}
	}()
	code, body := e.post(t, pr, "", nil)
	close(stop)
	<-done
	if code != http.StatusBadRequest || !strings.Contains(string(body), "$.runs[0].results[") {
		t.Fatalf("%d %s", code, body)
	}
	t.Logf("heap peak %d MB", peak>>20)
	// 100k findings are kept compactly (no message longer than the cap) and
	// the document itself is spooled to disk, never held.
	if peak > 300<<20 {
		t.Fatalf("heap peaked at %d MB for a 100 MB body", peak>>20)
	}
	if n := len(e.events(t)); n != 0 {
		t.Fatalf("%d events published", n)
	}
}

// One huge value (a 70 MB message) is refused before it is buffered whole.
func TestHugeSingleValueIsRefused(t *testing.T) {
	e := newEnv(t, nil)
	body := io.MultiReader(
		strings.NewReader(`{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"ruleId":"a","message":{"text":"`),
		bytes.NewReader(bytes.Repeat([]byte("y"), 70<<20)),
		strings.NewReader(`"}}]}]}`))
	code, out := e.post(t, body, "", nil)
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(string(out), "larger than 64 MiB") {
		t.Fatalf("%d %s", code, out)
	}
}
