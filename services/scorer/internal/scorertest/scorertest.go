// Package scorertest holds what the scorer's tests in several packages
// share: storing an event's fact rows, load run events, a settable clock.
package scorertest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/store"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	loadtestv1 "github.com/trilens/trilens/proto/trilens/loadtest/v1"
	"github.com/trilens/trilens/services/scorer/evidence"
)

// StoreRaw inserts an event's fact rows, as the scorer does before its processors run.
func StoreRaw(t *testing.T, st *store.Store, evs ...*eventv1.Event) {
	t.Helper()
	var rows evidence.Rows
	for _, ev := range evs {
		rows.Add(ev, "", 0)
	}
	if err := st.Insert(context.Background(), rows.Tables()...); err != nil {
		t.Fatal(err)
	}
}

// LoadEvent is a load run of test on branch of acme/shop (tenant "shop").
func LoadEvent(id, test, branch string, at time.Time, run *loadtestv1.LoadRun) *eventv1.Event {
	run.TestName, run.RunId = test, id
	env := events.NewEnvelope(events.ID("shop", id), "shop", eventv1.Kind_KIND_LOAD_RUN, &eventv1.Producer{Collector: "loadcollector", Tool: "k6"},
		&eventv1.Subject{Repository: "acme/shop", Branch: branch}, at)
	return &eventv1.Event{Envelope: env, Payload: &eventv1.Event_LoadRun{LoadRun: run}}
}

// Clock is a settable now for waiver expiry.
type Clock struct {
	mu sync.Mutex
	T  time.Time
}

func (c *Clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.T }
func (c *Clock) Set(t time.Time) { c.mu.Lock(); c.T = t; c.mu.Unlock() }
