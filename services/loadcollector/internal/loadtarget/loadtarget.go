// Package loadtarget is the HTTP server the load-lens fixtures are made
// against: its capacity is known by construction, so a stepped load test
// against it has a knee at a predictable rate.
package loadtarget

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Config shapes the server's capacity: Workers requests are served at once,
// each for Delay, so throughput saturates at Workers/Delay requests per second
// and further load only queues (latency grows, throughput stays flat).
type Config struct {
	Workers int
	Delay   time.Duration
	// FailEvery makes every n-th /work request answer 500 (0: never).
	FailEvery int
}

// Capacity is the request rate at which the server saturates.
func (c Config) Capacity() float64 { return float64(c.Workers) / c.Delay.Seconds() }

// Handler serves /work (the capacity-limited endpoint) and /page (a small
// HTML page with a large image, a layout shift and a long task, for
// Lighthouse).
func Handler(c Config) http.Handler {
	slots := make(chan struct{}, c.Workers)
	var n atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) {
		select {
		case slots <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		time.Sleep(c.Delay)
		<-slots
		if c.FailEvery > 0 && n.Add(1)%int64(c.FailEvery) == 0 {
			http.Error(w, "injected failure", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}` + "\n"))
	})
	mux.HandleFunc("GET /page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(page))
	})
	mux.HandleFunc("GET /hero.svg", func(w http.ResponseWriter, r *http.Request) {
		// The server is slow to send the hero image, so LCP is measurably late.
		time.Sleep(300 * time.Millisecond)
		w.Header().Set("Content-Type", "image/svg+xml")
		_, _ = w.Write([]byte(hero))
	})
	mux.HandleFunc("GET /delay", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

const hero = `<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="600"><rect width="1200" height="600" fill="#3a6"/></svg>`

// page has a late hero image (LCP), a banner inserted above the content after
// load (CLS), a 250 ms busy loop (a long task, TBT) and a Pay button whose
// click handler blocks for 300 ms (INP, in a Lighthouse user flow).
const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Trilens load target</title><meta name="description" content="A page with known web-vitals faults.">
</head><body>
<h1>Checkout</h1>
<p id="lead">Order summary and payment.</p>
<img src="/hero.svg" width="1200" height="600" alt="hero" style="max-width:100%;height:auto">
<button id="pay" onclick="var end = Date.now() + 300; while (Date.now() < end) {} this.textContent = 'Paid';">Pay</button>
<script>
setTimeout(function () {
  var b = document.createElement('div');
  b.style.height = '120px'; b.textContent = 'Late banner';
  document.body.insertBefore(b, document.getElementById('lead'));
  var end = Date.now() + 250; while (Date.now() < end) {}
}, 500);
</script>
</body></html>
`
