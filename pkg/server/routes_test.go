package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/trilens/trilens/pkg/server"
)

func TestRoutesRecordEveryPattern(t *testing.T) {
	s := server.New(server.Config{HTTPAddress: "127.0.0.1:0"}, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), func(context.Context) error { return nil })
	s.Mux.Handle("POST /v1/things", http.NotFoundHandler())
	want := []string{"GET /healthz", "GET /metrics", "GET /ready", "POST /v1/things"}
	if got := s.Mux.Patterns(); !slices.Equal(got, want) {
		t.Fatalf("Patterns() = %v, want %v", got, want)
	}
}

// A client that sends its headers and part of a body, then stops, must not
// hold its handler longer than the stall timeout.
func TestStalledUploadIsCut(t *testing.T) {
	readErr := make(chan error, 1)
	cfg := server.Config{HTTPAddress: "127.0.0.1:0", ReadHeaderTimeout: time.Second, StallTimeout: 300 * time.Millisecond, IdleTimeout: time.Second}
	s := server.New(cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), func(context.Context) error { return nil })
	s.Mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
	})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\npartial body")
	select {
	case err := <-readErr:
		if err == nil {
			t.Fatal("the stalled body was read to the end without an error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a stalled upload still holds its handler after 10 s (stall timeout 300 ms)")
	}
}
