package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/trilens/trilens/pkg/lifecycle"
	"github.com/trilens/trilens/pkg/server"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestHealthReadyMetricsServices(t *testing.T) {
	var mu sync.Mutex
	readyErr := errors.New("store: connection refused")
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "trilens_test_total", Help: "test"}))
	s := server.New(server.Config{HTTPAddress: "127.0.0.1:0"}, slog.New(slog.DiscardHandler), reg, func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		return readyErr
	})
	s.HandleServices(func(context.Context) []lifecycle.State { return []lifecycle.State{{Name: "scorer", State: "running"}} })
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	base := "http://" + s.Addr()
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz %d", code)
	}
	if code, body := get(t, base+"/ready"); code != 503 || !strings.Contains(body, "connection refused") {
		t.Fatalf("/ready %d %q, want 503 naming the reason", code, body)
	}
	mu.Lock()
	readyErr = nil
	mu.Unlock()
	if code, _ := get(t, base+"/ready"); code != 200 {
		t.Fatalf("/ready %d once ready", code)
	}
	if _, body := get(t, base+"/metrics"); !strings.Contains(body, "trilens_test_total") {
		t.Fatalf("/metrics lacks the registered metric")
	}
	_, body := get(t, base+"/services")
	var states []lifecycle.State
	if err := json.Unmarshal([]byte(body), &states); err != nil || len(states) != 1 || states[0].Name != "scorer" {
		t.Fatalf("/services %q: %v", body, err)
	}
}

func TestGateWaitsForInflightThenRefuses(t *testing.T) {
	g := &server.Gate{}
	release := make(chan struct{})
	entered := make(chan struct{})
	h := g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		w.WriteHeader(202)
	}))
	s := server.New(server.Config{HTTPAddress: "127.0.0.1:0"}, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), func(context.Context) error { return nil })
	s.Mux.Handle("/v1/", h)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	done := make(chan int)
	go func() { code, _ := get(t, "http://"+s.Addr()+"/v1/scans"); done <- code }()
	<-entered
	stopped := make(chan error)
	go func() { stopped <- g.Stop(context.Background()) }()
	select {
	case <-stopped:
		t.Fatal("gate stopped with a request in flight")
	case <-time.After(100 * time.Millisecond):
	}
	if code, _ := get(t, "http://"+s.Addr()+"/v1/scans"); code != 503 {
		t.Fatalf("new request while stopping: %d, want 503", code)
	}
	close(release)
	if code := <-done; code != 202 {
		t.Fatalf("in-flight request got %d", code)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}
