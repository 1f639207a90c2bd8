// Command otlpload offers OTLP/HTTP protobuf requests to a collector at a
// fixed rate from a process of its own, so the collector under test does not
// share its Go scheduler with the load: the trace benchmark's overload phase.
// Requests that get no answer because every sender is waiting are counted
// as unsent; nothing is retried. It prints sent=, refused=, unsent= counts.
//
// The corpus is a file of requests, each a 4-byte big-endian length and the
// body, as the trace benchmark (e2e) writes it.
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "", "OTLP/HTTP traces endpoint")
	corpus := flag.String("corpus", "", "request corpus file")
	rate := flag.Float64("rate", 1000, "requests per second to offer")
	duration := flag.Duration("duration", 8*time.Second, "how long to offer them")
	senders := flag.Int("senders", 64, "concurrent requests at most")
	flag.Parse()
	bodies, err := readCorpus(*corpus)
	if err != nil || len(bodies) == 0 || *url == "" {
		fmt.Fprintln(os.Stderr, "otlpload: need -url and a non-empty -corpus:", err)
		os.Exit(2)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *senders}, Timeout: 30 * time.Second}
	var sent, refused, unsent atomic.Int64
	var wg sync.WaitGroup
	slots := make(chan struct{}, *senders)
	begin := time.Now()
	i := 0
	// Catch up every millisecond with what the rate says should have gone out.
	for time.Since(begin) < *duration {
		due := int(time.Since(begin).Seconds() * *rate)
		for ; i < due; i++ {
			select {
			case slots <- struct{}{}:
			default:
				unsent.Add(1)
				continue
			}
			wg.Add(1)
			go func(body []byte) {
				defer func() { <-slots; wg.Done() }()
				sent.Add(1)
				resp, err := client.Post(*url, "application/x-protobuf", bytes.NewReader(body))
				if err != nil {
					refused.Add(1)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					refused.Add(1)
				}
			}(bodies[i%len(bodies)])
		}
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	fmt.Printf("sent=%d refused=%d unsent=%d\n", sent.Load(), refused.Load(), unsent.Load())
}

func readCorpus(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var out [][]byte
	for {
		var n uint32
		if err := binary.Read(r, binary.BigEndian, &n); err == io.EOF {
			return out, nil
		} else if err != nil {
			return nil, err
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
}
