package lifecycle_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/trilens/trilens/pkg/lifecycle"
)

type recorder struct{ events []string }

func (r *recorder) service(name string, failStart bool) lifecycle.Service {
	return lifecycle.Func(name,
		func(context.Context) error {
			if failStart {
				return errors.New("boom")
			}
			r.events = append(r.events, "start "+name)
			return nil
		},
		func(context.Context) error { r.events = append(r.events, "stop "+name); return nil })
}

func TestStartsInOrderStopsInReverse(t *testing.T) {
	r := &recorder{}
	m := lifecycle.NewManager(slog.New(slog.DiscardHandler), r.service("nats", false), r.service("scorer", false), r.service("collector", false))
	ctx := context.Background()
	if err := m.Ready(ctx); err == nil {
		t.Fatal("ready before start")
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Ready(ctx); err != nil {
		t.Fatalf("not ready after start: %v", err)
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	got := strings.Join(r.events, ", ")
	want := "start nats, start scorer, start collector, stop collector, stop scorer, stop nats"
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	if err := m.Ready(ctx); err == nil {
		t.Fatal("ready after stop")
	}
}

func TestFailedStartStopsWhatStarted(t *testing.T) {
	r := &recorder{}
	m := lifecycle.NewManager(slog.New(slog.DiscardHandler), r.service("nats", false), r.service("store", true), r.service("scorer", false))
	err := m.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "start store: boom") {
		t.Fatalf("want the failing service named, got %v", err)
	}
	if got := strings.Join(r.events, ", "); got != "start nats, stop nats" {
		t.Fatalf("got %s", got)
	}
	states := m.States(context.Background())
	if len(states) != 3 || states[0].State != "stopping" {
		t.Fatalf("states %+v", states)
	}
}
