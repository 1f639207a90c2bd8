// Command loadbench measures the collector's ingest of one k6 NDJSON file:
// the real handler behind a real HTTP listener, publishing to an embedded
// JetStream, with the file streamed from disk. It prints MB/s and the peak
// RSS of this process (collector, HTTP client and NATS server together).
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
	"syscall"
	"time"

	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/natsserver"
	"github.com/trilens/trilens/services/loadcollector"
)

func main() {
	file := flag.String("file", "", "k6 NDJSON file to ingest")
	flag.Parse()
	if err := run(*file); err != nil {
		log.Fatal(err)
	}
}

func run(file string) error {
	b, stop, err := natsserver.StartTemp(context.Background(), slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer stop()
	var cfg loadcollector.Config
	cfg.RegisterFlags("", flag.NewFlagSet("c", flag.ContinueOnError))
	// The bench sends the file uncompressed, so both limits must pass 1 GB.
	c, err := loadcollector.New(cfg, collect.Settings{Publisher: b, Limits: collect.Limits{MaxBodyBytes: 4 << 30, MaxDecodedBytes: 4 << 30}})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	c.Register(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()

	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, _ := f.Stat()
	start := time.Now()
	resp, err := http.Post("http://"+ln.Addr().String()+"/v1/loadruns?test=bench", "application/x-ndjson", f)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	elapsed := time.Since(start)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	var r loadcollector.Response
	_ = json.Unmarshal(body, &r)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	mb := float64(st.Size()) / 1e6
	fmt.Printf("bytes=%d lines=%d seconds=%.3f mb_per_s=%.1f peak_rss_mb=%.1f\n", st.Size(), r.Samples, elapsed.Seconds(), mb/elapsed.Seconds(), float64(ru.Maxrss)/1024)
	return nil
}
