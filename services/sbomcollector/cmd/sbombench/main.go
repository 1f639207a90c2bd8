// Command sbombench measures what `trilens sbom DIR` does in one process:
// syft (the library) catalogues a directory, then the SBOM is posted to the
// real collector handler behind a real HTTP listener, which decodes it while
// streaming, stores it in the NATS object store and publishes its components
// to an embedded JetStream. It prints key=value pairs: packages, bytes,
// gen_s, ingest_s, seconds (both), cpu_s (this process and its children:
// syft runs `go list`), peak_rss_mb until the SBOM is written (what the
// `trilens sbom` process holds, its collector being another process, or its
// largest `go list` child if that held more: GNU time counts the syft CLI's
// peak the same way) and process_rss_mb, the peak with this process's own
// collector and NATS.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/natsserver"
	"github.com/trilens/trilens/services/sbomcollector"
	"github.com/trilens/trilens/services/sbomcollector/generate"
)

func main() {
	dir := flag.String("dir", "", "directory to catalogue")
	format := flag.String("format", generate.SyftJSON, "SBOM format")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	parallelism := flag.Int("parallelism", 0, "syft's cataloguing parallelism (0: the default, as trilens sbom)")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if err := run(*dir, *format, *parallelism); err != nil {
		log.Fatal(err)
	}
}

func run(dir, format string, parallelism int) error {
	out, err := os.CreateTemp("", "sbombench-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	// Generation first, alone in the process as in `trilens sbom`, whose
	// collector is another process: the NATS server and the collector start
	// afterwards, and the generation's heap goes back to the OS before ingest.
	start := time.Now()
	res, err := generate.Generate(context.Background(), dir, out, generate.Options{Format: format, Name: "bench", Parallelism: parallelism})
	if err != nil {
		return err
	}
	gen := time.Since(start)
	var genUsage, genChildren syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &genUsage)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &genChildren)
	debug.FreeOSMemory()
	size, _ := out.Seek(0, io.SeekCurrent)
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return err
	}
	ingestStart := time.Now()
	r, err := ingest(out)
	if err != nil {
		return err
	}
	ingest := time.Since(ingestStart)
	if r.Rows != res.Packages {
		return fmt.Errorf("collector took %d components, syft found %d packages", r.Rows, res.Packages)
	}
	var self, children syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children) // syft's `go list` runs
	fmt.Printf("packages=%d bytes=%d events=%d gen_s=%.3f ingest_s=%.3f seconds=%.3f cpu_s=%.1f peak_rss_mb=%.1f process_rss_mb=%.1f\n",
		res.Packages, size, r.Events, gen.Seconds(), ingest.Seconds(), time.Since(start).Seconds(),
		cpuSeconds(self)+cpuSeconds(children), float64(max(genUsage.Maxrss, genChildren.Maxrss))/1024, float64(self.Maxrss)/1024)
	return nil
}

// ingest posts the SBOM in sbom to the real collector handler behind a real
// HTTP listener, publishing to an embedded JetStream.
func ingest(sbom io.Reader) (*sbomcollector.SBOMResponse, error) {
	dir, err := os.MkdirTemp("", "sbombench-nats-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	srv, err := natsserver.Start(natsserver.Config{StoreDir: dir, MaxPayload: 1 << 20})
	if err != nil {
		return nil, err
	}
	defer srv.Shutdown()
	// One SBOM's events fit in far less than the evidence stream's default
	// bound (8 GiB), which JetStream must reserve on the disk up front.
	bcfg := bus.DefaultConfig()
	bcfg.EvidenceMaxBytes = 256 << 20
	b, err := srv.Bus(context.Background(), bcfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	defer b.Close()
	var cfg sbomcollector.Config
	cfg.RegisterFlags("", flag.NewFlagSet("c", flag.ContinueOnError))
	c, err := sbomcollector.New(cfg, collect.Settings{Publisher: b})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	c.Register(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: time.Minute}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	resp, err := http.Post("http://"+ln.Addr().String()+"/v1/sboms?repo=bench", "application/json", sbom)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return nil, fmt.Errorf("collector answered %d: %s", resp.StatusCode, body)
	}
	var r sbomcollector.SBOMResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("collector answer %q: %w", body, err)
	}
	return &r, nil
}

func cpuSeconds(r syscall.Rusage) float64 {
	return float64(r.Utime.Sec+r.Stime.Sec) + float64(r.Utime.Usec+r.Stime.Usec)/1e6
}
