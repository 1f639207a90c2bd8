package tracecollector

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/natstest"
)

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// TestWindowsCloseByTime: a window is published once its end plus the
// lateness has passed, without waiting for Stop; a trace that arrives for
// it afterwards is late and not counted twice.
func TestWindowsCloseByTime(t *testing.T) {
	b := natstest.Bus(t)
	cfg := testConfig()
	cfg.DecisionWait = time.Second
	cfg.MaxTraceAge = 10 * time.Second
	cfg.Lateness = 30 * time.Second
	cfg.FlushInterval = 20 * time.Millisecond
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	clk := &clock{now: t0.Add(10 * time.Second)}
	c, err := New(cfg, collect.Settings{Logger: slog.New(slog.DiscardHandler), Publisher: b, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background())
	url := "http://" + c.HTTPAddr() + "/v1/traces"
	sendAt := func(req ptraceotlp.ExportRequest) {
		t.Helper()
		if resp := post(t, url, "application/x-protobuf", protoBody(t, req)); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	sendAt(request(3, t0.Add(5*time.Second)))
	// The trace is quiet for its decision wait and gets analysed.
	clk.Set(t0.Add(12 * time.Second))
	advanceUntil(t, clk, c.metrics.traces.WithLabelValues("complete"), 1)

	// Not yet: the window ends at 12:01 and waits 30 s for late traces.
	clk.Set(t0.Add(89 * time.Second))
	time.Sleep(200 * time.Millisecond)
	if evs := traceEvents(t, b); len(evs) != 0 {
		t.Fatalf("window published %v before its lateness passed", evs)
	}
	clk.Set(t0.Add(91 * time.Second))
	var windows int
	deadline := time.Now().Add(10 * time.Second)
	for windows == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		for _, ev := range traceEvents(t, b) {
			for _, w := range ev.GetTraceWindows().GetWindows() {
				windows++
				if w.Count != 1 || w.StartUnixNano != t0.UnixNano() {
					t.Errorf("window %v", w)
				}
			}
		}
	}
	if windows != 1 {
		t.Fatalf("%d windows published by time, want 1", windows)
	}

	// A trace for the closed window is late: dropped and counted, not republished.
	sendAt(request(4, t0.Add(20*time.Second)))
	clk.Set(t0.Add(95 * time.Second))
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range traceEvents(t, b) {
		n += len(ev.GetTraceWindows().GetWindows())
	}
	if n != 1 {
		t.Errorf("%d windows after the late trace, want still 1", n)
	}
	if got := counterValue(t, c.metrics.traces.WithLabelValues("late")); got != 1 {
		t.Errorf("late traces %v, want 1", got)
	}
}

// TestBufferBound: past MaxBufferedSpans the oldest traces are analysed
// early instead of the buffer growing.
func TestBufferBound(t *testing.T) {
	b := natstest.Bus(t)
	cfg := testConfig()
	cfg.Shards = 1
	cfg.MaxBufferedSpans = 10
	c := startCollector(t, cfg, b, nil)
	url := "http://" + c.HTTPAddr() + "/v1/traces"
	now := time.Now()
	for n := 2; n <= 7; n++ { // six traces of 2..7 spans: 27 spans
		if resp := post(t, url, "application/x-protobuf", protoBody(t, request(n, now))); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	// Keeping 27 spans under 10 takes at least three early analyses.
	waitCounter(t, c.metrics.traces.WithLabelValues("evicted"), 3)
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	var count float64
	for _, ev := range traceEvents(t, b) {
		for _, w := range ev.GetTraceWindows().GetWindows() {
			count += w.Count
		}
	}
	if count != 6 {
		t.Errorf("windows count %v traces, want all 6", count)
	}
}

// waitCounter waits until c reaches at least want.
func waitCounter(t testing.TB, c prometheus.Counter, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for counterValue(t, c) < want {
		if time.Now().After(deadline) {
			t.Fatalf("counter at %v after 10s, want %v", counterValue(t, c), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStragglersAfterDecision: spans of a trace that was already analysed
// (a root exported late, say) are dropped and counted, not analysed as a
// second, partial trace.
func TestStragglersAfterDecision(t *testing.T) {
	b := natstest.Bus(t)
	cfg := testConfig()
	cfg.DecisionWait = time.Second
	cfg.MaxTraceAge = 10 * time.Second
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	clk := &clock{now: t0}
	c, err := New(cfg, collect.Settings{Logger: slog.New(slog.DiscardHandler), Publisher: b, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background())
	url := "http://" + c.HTTPAddr() + "/v1/traces"
	body := protoBody(t, request(3, t0))
	if resp := post(t, url, "application/x-protobuf", body); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	clk.Set(t0.Add(2 * time.Second))
	advanceUntil(t, clk, c.metrics.traces.WithLabelValues("complete"), 1)
	if resp := post(t, url, "application/x-protobuf", body); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	waitCounter(t, c.metrics.spans.WithLabelValues("dropped_after_decision"), 3)
	// Past MaxTraceAge the trace is forgotten: the same id is a new trace.
	clk.Set(clk.Now().Add(10 * time.Second))
	if resp := post(t, url, "application/x-protobuf", body); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	advanceUntil(t, clk, c.metrics.traces.WithLabelValues("complete"), 2)
}

// advanceUntil moves the clock on a second at a time until c reaches want:
// spans enter their shard a little after the request is answered, so a
// trace's decision wait may start later than the clock the test set.
func advanceUntil(t testing.TB, clk *clock, c prometheus.Counter, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for counterValue(t, c) < want {
		if time.Now().After(deadline) {
			t.Fatalf("counter at %v after 10s, want %v", counterValue(t, c), want)
		}
		time.Sleep(50 * time.Millisecond)
		clk.Set(clk.Now().Add(time.Second))
	}
}
