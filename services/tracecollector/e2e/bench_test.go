package e2e

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// cpuSeconds is the CPU time this process has used (user + system): with
// eight engineers on two cores, wall time says little; spans per CPU second
// is spans per second per core.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// resetPeakRSS starts a new peak (Linux: writing 5 to clear_refs resets VmHWM).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSSMB reads VmHWM, the peak resident set since the last reset.
func peakRSSMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func benchSpans() int {
	if n, err := strconv.Atoi(os.Getenv("TRACE_BENCH_SPANS")); err == nil && n > 0 {
		return n
	}
	return 600_000
}

// BenchmarkTraceIngest measures, in one run: plain protobuf decoding of the
// OTLP requests (the floor), OTLP/HTTP ingest end to end with detections on
// (HTTP -> collector -> JetStream -> scorer -> ClickHouse), and the peak RSS
// while the collector is offered twice the load it sustains. Run it with
// -benchtime 1x; scripts/bench.d/50-trace.sh prints the figures.
func BenchmarkTraceIngest(b *testing.B) {
	t0 := time.Now().Truncate(time.Minute).Add(-10 * time.Minute)
	tr := genTraffic(benchSpans()/6, 512, t0, time.Minute)
	spans := float64(tr.spans)
	corpus := 0
	for _, body := range tr.bodies {
		corpus += len(body)
	}
	b.ReportMetric(float64(corpus)/(1<<20), "corpus_MB")
	b.ReportMetric(spans, "spans")
	for range b.N {
		// The floor: decode the same bodies with pdata, nothing else.
		cpu := cpuSeconds()
		for _, body := range tr.bodies {
			req := ptraceotlp.NewExportRequest()
			if err := req.UnmarshalProto(body); err != nil {
				b.Fatal(err)
			}
		}
		decodeRate := spans / (cpuSeconds() - cpu)

		r := newRig(b, testPolicy, nil)
		cpu, start := cpuSeconds(), time.Now()
		send(b, r.url, tr.bodies, 16)
		accepted := time.Since(start).Seconds()
		if err := r.collector.Stop(context.Background()); err != nil {
			b.Fatal(err)
		}
		waitRows(b, r.store, "journey_latency", uint64(len(tr.roots)))
		wall := time.Since(start).Seconds()
		e2eRate := spans / (cpuSeconds() - cpu)

		b.ReportMetric(decodeRate, "decode_spans/cpu-s")
		b.ReportMetric(e2eRate, "e2e_spans/cpu-s")
		b.ReportMetric(spans/wall, "e2e_spans/s")
		b.ReportMetric(spans/accepted, "accepted_spans/s")
		b.ReportMetric(e2eRate/decodeRate, "e2e/decode")

		// Twice the rate the collector accepted spans at, with nothing retried.
		before, peak, refused := overload(b, tr, 2*spans/accepted, 8*time.Second)
		b.ReportMetric(before, "rss_before_overload_MB")
		b.ReportMetric(peak, "overload_peak_rss_MB")
		b.ReportMetric(100*refused, "overload_refused_%")
	}
}

// overload offers rate spans/s for d with requests that are not retried,
// and returns the RSS before, the peak RSS over that time (MB) and the
// share of requests refused.
func overload(b *testing.B, tr *traffic, rate float64, d time.Duration) (float64, float64, float64) {
	r := newRig(b, testPolicy, nil)
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()
	before := peakRSSMB()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	perBody := float64(tr.spans) / float64(len(tr.bodies))
	var sent, refused, backlog atomic.Int64
	var wg sync.WaitGroup
	workers := make(chan struct{}, 64)
	begin := time.Now()
	i := 0
	// Catch up every millisecond with what the rate says should have gone
	// out by now: under a saturated CPU a ticker would quietly slow down.
	for time.Since(begin) < d {
		due := int(time.Since(begin).Seconds() * rate / perBody)
		for ; i < due; i++ {
			select {
			case workers <- struct{}{}:
			default:
				backlog.Add(1) // every sender is waiting for an answer
				continue
			}
			wg.Add(1)
			go func(body []byte) {
				defer func() { <-workers; wg.Done() }()
				sent.Add(1)
				resp, err := client.Post(r.url, "application/x-protobuf", bytes.NewReader(body))
				if err != nil {
					refused.Add(1)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					refused.Add(1)
				}
			}(tr.bodies[i%len(tr.bodies)])
		}
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapSys)/(1<<20), "heap_sys_MB")
	b.ReportMetric(float64(sent.Load())*perBody/d.Seconds(), "overload_sent_spans/s")
	b.ReportMetric(float64(backlog.Load())*perBody/d.Seconds(), "overload_unsent_spans/s")
	if err := r.collector.Stop(context.Background()); err != nil {
		b.Fatal(err)
	}
	return before, peakRSSMB(), float64(refused.Load()) / float64(sent.Load())
}
