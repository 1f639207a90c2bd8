package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/procfs"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

// BenchmarkScorerScaling publishes one backlog of change events of three
// tenants, then lets 1, 2 and 3 scorer processes sharing the durable
// consumer drain it (a fresh NATS server and database each time), and prints
// the drain rate, the scaling ratio against one scorer, and the CPU seconds
// each part used while draining: every scorer process (its rusage), the
// NATS server (this process, which runs it in process; its polling is
// small) and the ClickHouse server (/proc). The per-component costs are
// events per CPU second of each part. SCALING_BENCH_EVENTS sets the backlog (default 150,000).
func BenchmarkScorerScaling(b *testing.B) {
	backlog := 150_000
	if v, err := strconv.Atoi(os.Getenv("SCALING_BENCH_EVENTS")); err == nil && v > 0 {
		backlog = v
	}
	for range b.N {
		fmt.Println("| scorers | events | drain (s) | events/s | ratio to 1 | scorer CPU s (each) | NATS CPU s | ClickHouse CPU s | events per scorer CPU s | per NATS CPU s | per ClickHouse CPU s |")
		fmt.Println("| ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
		var rates []float64
		for n := 1; n <= 3; n++ {
			r := drainWith(b, n, backlog)
			rates = append(rates, r.rate())
			fmt.Printf("| %d | %d | %.1f | %.0f | %.2f | %s | %.1f | %.1f | %.0f | %.0f | %.0f |\n", n, backlog, r.elapsed.Seconds(), r.rate(),
				r.rate()/rates[0], r.scorerCPUs(), r.natsCPU, r.chCPU, float64(backlog)/r.scorerCPU(), float64(backlog)/r.natsCPU, float64(backlog)/r.chCPU)
		}
		fmt.Printf("scorer-scaling-2 ratio %.2f\n", rates[1]/rates[0])
		fmt.Printf("scorer-scaling ratio %.2f\n", rates[2]/rates[0])
	}
}

// drain is what one drain of the backlog measured.
type drain struct {
	events  int
	elapsed time.Duration
	scorers []time.Duration // CPU time of each scorer process
	natsCPU float64         // seconds
	chCPU   float64         // seconds
}

func (d drain) rate() float64 { return float64(d.events) / d.elapsed.Seconds() }

func (d drain) scorerCPU() float64 {
	var s time.Duration
	for _, c := range d.scorers {
		s += c
	}
	return s.Seconds()
}

func (d drain) scorerCPUs() string {
	out := ""
	for i, c := range d.scorers {
		if i > 0 {
			out += " + "
		}
		out += fmt.Sprintf("%.1f", c.Seconds())
	}
	return out
}

// drainWith publishes the backlog to a fresh NATS server and database, then
// starts n scorers and measures until every event is stored.
func drainWith(b *testing.B, n, backlog int) drain {
	ctx := context.Background()
	srv := natstest.Start(b)
	bb := natstest.BusOn(b, srv)
	st := chtest.Store(b)
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	tenants := []string{"north", "south", "west"}
	for i, tenant := range tenants {
		if err := publishBacklog(ctx, bb, tenant, backlog/len(tenants)+min(1, max(0, backlog%len(tenants)-i))); err != nil {
			b.Fatal(err)
		}
	}
	natsBefore, chBefore := selfCPU(b), processCPU(b, chtest.Server().Pid())
	start := time.Now()
	var scorers []*scorerProcess
	for range n {
		scorers = append(scorers, startChild(b, []string{"--target=scorer", "--bus.url=" + srv.ClientURL(),
			"--store.dsn=" + chtest.DSN(), "--store.database=" + st.Database(), "--clickhouse.start=false",
			"--server.http-address=127.0.0.1:0", "--policy.file=" + os.DevNull + ".absent", "--log.level=warn"}))
	}
	for deadline := time.Now().Add(20 * time.Minute); storedCount(ctx, st) < uint64(backlog); time.Sleep(250 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d scorers did not store %d events in 20 minutes", n, backlog)
		}
	}
	d := drain{events: backlog, elapsed: time.Since(start)}
	d.natsCPU, d.chCPU = selfCPU(b)-natsBefore, processCPU(b, chtest.Server().Pid())-chBefore
	for _, s := range scorers {
		cmd := s.cmd
		if err := s.kill(syscall.SIGTERM); err != nil {
			b.Fatalf("scorer did not stop cleanly: %v", err)
		}
		d.scorers = append(d.scorers, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
	}
	return d
}

func publishBacklog(ctx context.Context, b *bus.Bus, tenant string, n int) error {
	const batch = 1000
	for start := 0; start < n; start += batch {
		evs := make([]*eventv1.Event, 0, batch)
		for i := start; i < min(start+batch, n); i++ {
			evs = append(evs, changeEvent(tenant, i))
		}
		if err := b.Publish(ctx, evs...); err != nil {
			return err
		}
	}
	return nil
}

func storedCount(ctx context.Context, st *store.Store) uint64 {
	var n uint64
	_ = st.Conn().QueryRow(ctx, "SELECT count() FROM "+st.Database()+".evidence_log").Scan(&n)
	return n
}

// selfCPU is the CPU seconds this process (and the NATS server in it) used.
func selfCPU(b *testing.B) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// processCPU is the CPU seconds process pid used so far.
func processCPU(b *testing.B, pid int) float64 {
	p, err := procfs.NewProc(pid)
	if err != nil {
		b.Fatalf("clickhouse process %d: %v", pid, err)
	}
	s, err := p.Stat()
	if err != nil {
		b.Fatalf("clickhouse process %d: %v", pid, err)
	}
	return s.CPUTime()
}
