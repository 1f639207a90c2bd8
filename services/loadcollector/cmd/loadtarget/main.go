// Command loadtarget serves the capacity-limited HTTP target the load-lens
// fixtures are recorded against (see testdata/README.md).
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/trilens/trilens/services/loadcollector/internal/loadtarget"
)

func main() {
	var c loadtarget.Config
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	flag.IntVar(&c.Workers, "workers", 2, "requests served at once")
	flag.DurationVar(&c.Delay, "delay", 20*time.Millisecond, "service time of one /work request")
	flag.IntVar(&c.FailEvery, "fail-every", 0, "every n-th /work request fails with 500 (0: never)")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	// The first line tells the caller where to send load.
	fmt.Fprintf(os.Stdout, "http://%s capacity=%.0f rps\n", ln.Addr(), c.Capacity())
	log.Fatal(http.Serve(ln, loadtarget.Handler(c)))
}
