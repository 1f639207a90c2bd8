// Package evidence is the scorer's shared base: the dependencies every part
// gets (Settings), the contract of a part that derives state from evidence
// (Processor), the rows an event adds to the fact tables (Rows), and the
// few conversions every lens needs to file its rows the same way (scope,
// times, enum names, lens names, verdict rows).
package evidence

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

// Settings are the scorer's dependencies.
type Settings struct {
	Logger     *slog.Logger
	Bus        *bus.Bus
	Store      *store.Store
	Policy     *policy.Policy
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Processor derives state from evidence once its rows are stored: finding
// lifecycle, KPI points, verdicts. It runs after a batch's rows are inserted
// and before its messages are acked, so a crash replays it: it must be
// idempotent. A Processor that also has Register(server.Router) serves its
// part of the scorer's API.
type Processor interface {
	Name() string
	Process(ctx context.Context, evs []*eventv1.Event) error
}
