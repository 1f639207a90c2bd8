package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
	changev1 "github.com/trilens/trilens/proto/trilens/change/v1"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

const reliabilityEvents = 100_000

// scorerProcess is the scorer running as a child process, so it can be killed.
type scorerProcess struct {
	t    testing.TB
	args []string
	cmd  *exec.Cmd
	done chan error
}

// startScorer runs the scorer process on natsURL and st; extra adds flags.
func startScorer(t testing.TB, natsURL string, st *store.Store, extra ...string) *scorerProcess {
	p := &scorerProcess{t: t, args: []string{
		"--target=scorer",
		"--bus.url=" + natsURL,
		"--store.dsn=" + chtest.DSN(),
		"--store.database=" + st.Database(),
		"--clickhouse.start=false",
		"--server.http-address=127.0.0.1:0",
		"--policy.file=" + os.DevNull + ".absent",
		// A killed scorer's unacknowledged messages come back after AckWait.
		"--scorer.ack-wait=3s",
		"--log.level=warn",
	}}
	p.args = append(p.args, extra...)
	p.start()
	t.Cleanup(func() { p.kill(syscall.SIGKILL) })
	return p
}

func (p *scorerProcess) start() {
	p.cmd = exec.Command(trilensBin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = os.Stderr, os.Stderr
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start scorer: %v", err)
	}
	p.done = make(chan error, 1)
	go func(cmd *exec.Cmd, done chan error) { done <- cmd.Wait() }(p.cmd, p.done)
}

// mustRun fails the test at once when the scorer has exited by itself.
func (p *scorerProcess) mustRun() {
	select {
	case err := <-p.done:
		p.cmd = nil
		p.t.Fatalf("the scorer exited by itself: %v", err)
	default:
	}
}

func (p *scorerProcess) kill(sig syscall.Signal) error {
	if p.cmd == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(sig)
	err := <-p.done
	p.cmd = nil
	return err
}

// publishSteadily publishes n one-change events in batches, spread over
// about spread, so that failures can be injected mid-stream.
func publishSteadily(ctx context.Context, b *bus.Bus, tenant string, n int, spread time.Duration) error {
	const batch = 500
	tick := spread / time.Duration(n/batch)
	now := time.Now()
	for start := 0; start < n; start += batch {
		evs := make([]*eventv1.Event, 0, batch)
		for i := start; i < min(start+batch, n); i++ {
			env := events.NewEnvelope(events.ID(tenant, fmt.Sprint(i)), tenant, eventv1.Kind_KIND_CHANGE,
				&eventv1.Producer{Collector: "reliability-test"}, &eventv1.Subject{Service: "svc"}, now)
			evs = append(evs, &eventv1.Event{Envelope: env, Payload: &eventv1.Event_Changes{Changes: &changev1.ChangeBatch{
				Changes: []*changev1.Change{{Id: fmt.Sprint(i), Type: changev1.ChangeType_CHANGE_TYPE_CI_RUN, Status: "success"}}}}})
		}
		if err := b.Publish(ctx, evs...); err != nil {
			return err
		}
		time.Sleep(tick)
	}
	return nil
}

type counts struct{ rows, distinct uint64 }

func evidenceCounts(ctx context.Context, st *store.Store, tenant string) (counts, error) {
	var c counts
	q := fmt.Sprintf("SELECT count(), uniqExact(event_id) FROM %s.evidence_log FINAL WHERE tenant = ?", st.Database())
	err := st.Conn().QueryRow(ctx, q, tenant).Scan(&c.rows, &c.distinct)
	return c, err
}

// waitFor polls until cond holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type reliabilityRig struct {
	t      *testing.T
	bus    *bus.Bus
	store  *store.Store
	scorer *scorerProcess
	tenant string
}

func newReliabilityRig(t *testing.T, tenant string) *reliabilityRig {
	srv := natstest.Start(t)
	cfg := bus.DefaultConfig()
	cfg.URL = srv.ClientURL()
	b, err := bus.Connect(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := b.Provision(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := chtest.Store(t)
	return &reliabilityRig{t: t, bus: b, store: st, scorer: startScorer(t, srv.ClientURL(), st), tenant: tenant}
}

// run publishes the events while inject runs once a third of them are
// stored, then checks that every event is stored exactly once.
func (r *reliabilityRig) run(inject func()) {
	t := r.t
	ctx := context.Background()
	published := make(chan error, 1)
	go func() { published <- publishSteadily(ctx, r.bus, r.tenant, reliabilityEvents, 12*time.Second) }()

	waitFor(t, 2*time.Minute, "a third of the events stored", func() bool {
		r.scorer.mustRun()
		c, err := evidenceCounts(ctx, r.store, r.tenant)
		return err == nil && c.distinct >= reliabilityEvents/3
	})
	inject()
	if err := <-published; err != nil {
		t.Fatalf("publish: %v", err)
	}
	var last counts
	waitFor(t, 3*time.Minute, fmt.Sprintf("all %d events stored", reliabilityEvents), func() bool {
		r.scorer.mustRun()
		c, err := evidenceCounts(ctx, r.store, r.tenant)
		if err == nil {
			last = c
		}
		return err == nil && c.distinct >= reliabilityEvents
	})
	if last.distinct != reliabilityEvents || last.rows != reliabilityEvents {
		t.Fatalf("evidence_log holds %d rows with %d distinct event ids after dedup, want exactly %d of each", last.rows, last.distinct, reliabilityEvents)
	}
}

func TestReliabilityScorerKilled(t *testing.T) {
	r := newReliabilityRig(t, "killed")
	r.run(func() {
		// A graceful stop drains what the scorer holds and exits cleanly.
		if err := r.scorer.kill(syscall.SIGTERM); err != nil {
			t.Fatalf("the scorer did not exit cleanly on SIGTERM: %v", err)
		}
		r.scorer.start()
		time.Sleep(2 * time.Second)
		for range 2 {
			if err := r.scorer.kill(syscall.SIGKILL); err == nil {
				t.Fatal("the scorer exited cleanly before it was killed")
			}
			time.Sleep(500 * time.Millisecond)
			r.scorer.start()
			time.Sleep(2 * time.Second)
		}
	})
}

func TestReliabilityClickHouseStopped(t *testing.T) {
	srv := chtest.Server()
	if srv == nil {
		t.Fatal("this test stops ClickHouse: it needs the private server chtest starts, not TRILENS_CLICKHOUSE_DSN")
	}
	r := newReliabilityRig(t, "chdown")
	r.run(func() {
		ctx := context.Background()
		if err := srv.Stop(ctx); err != nil {
			t.Fatalf("stop clickhouse: %v", err)
		}
		time.Sleep(10 * time.Second)
		if err := srv.Restart(ctx); err != nil {
			t.Fatalf("restart clickhouse: %v", err)
		}
	})
}
