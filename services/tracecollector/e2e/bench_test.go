package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
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
// -benchtime 1x; scripts/bench.d/50-trace.sh prints the figures. The overload
// is offered by internal/otlpload from a process of its own, so the peak RSS
// is the collector's process alone (with NATS and the scorer in it).
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
	// One run is the measurement, whatever b.N: the figures are rates.
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

	// Twice what the process could take with every core to itself (its
	// spans per CPU second times the cores), offered from a process of its
	// own, with nothing retried.
	perBody := spans / float64(len(tr.bodies))
	load := buildLoad(b, tr)
	tr.bodies = nil // the corpus now lives in a file: keep it out of the RSS
	const d = 8 * time.Second
	capacity := e2eRate * float64(runtime.GOMAXPROCS(0))
	b.ReportMetric(capacity, "capacity_spans/s")
	before, peak, o := overload(b, load, 2*capacity/perBody, d)
	b.ReportMetric(before, "rss_before_overload_MB")
	b.ReportMetric(peak, "overload_peak_rss_MB")
	b.ReportMetric(float64(o.sent+o.unsent)*perBody/d.Seconds(), "overload_offered_spans/s")
	b.ReportMetric(float64(o.sent-o.refused)*perBody/d.Seconds(), "overload_accepted_spans/s")
	b.ReportMetric(100*float64(o.refused)/float64(max(o.sent, 1)), "overload_refused_%")
}

// loadCmd is the otlpload binary and the corpus it sends.
type loadCmd struct{ bin, corpus string }

// buildLoad builds internal/otlpload and writes the corpus for it.
func buildLoad(b *testing.B, tr *traffic) loadCmd {
	dir := b.TempDir()
	l := loadCmd{bin: filepath.Join(dir, "otlpload"), corpus: filepath.Join(dir, "corpus")}
	if out, err := exec.Command("go", "build", "-o", l.bin, "../internal/otlpload").CombinedOutput(); err != nil {
		b.Fatalf("build otlpload: %v\n%s", err, out)
	}
	var buf bytes.Buffer
	for _, body := range tr.bodies {
		_ = binary.Write(&buf, binary.BigEndian, uint32(len(body)))
		buf.Write(body)
	}
	if err := os.WriteFile(l.corpus, buf.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	return l
}

type loadResult struct{ sent, refused, unsent int }

// overload runs otlpload at rate requests/s for d against a fresh rig and
// returns this process's RSS before and its peak during the load (MB).
func overload(b *testing.B, l loadCmd, rate float64, d time.Duration) (float64, float64, loadResult) {
	r := newRig(b, testPolicy, nil)
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()
	before := peakRSSMB()
	out, err := exec.Command(l.bin, "-url", r.url, "-corpus", l.corpus,
		"-rate", strconv.FormatFloat(rate, 'f', 1, 64), "-duration", d.String()).Output()
	if err != nil {
		b.Fatalf("otlpload: %v", err)
	}
	peak := peakRSSMB()
	var res loadResult
	if _, err := fmt.Sscanf(string(out), "sent=%d refused=%d unsent=%d", &res.sent, &res.refused, &res.unsent); err != nil {
		b.Fatalf("otlpload said %q: %v", out, err)
	}
	if err := r.collector.Stop(context.Background()); err != nil {
		b.Fatal(err)
	}
	return before, peak, res
}
