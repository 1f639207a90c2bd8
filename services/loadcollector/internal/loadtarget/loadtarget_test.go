package loadtarget

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Eight concurrent requests against 2 workers × 50 ms take four rounds: the
// server queues instead of serving more at once.
func TestWorkersBoundConcurrency(t *testing.T) {
	c := Config{Workers: 2, Delay: 50 * time.Millisecond, FailEvery: 4}
	if c.Capacity() != 40 {
		t.Fatalf("capacity %v, want 40 req/s", c.Capacity())
	}
	srv := httptest.NewServer(Handler(c))
	defer srv.Close()
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for range 8 {
		wg.Go(func() {
			resp, err := http.Get(srv.URL + "/work")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusInternalServerError {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("8 requests took %v, want at least 4 rounds of 50 ms", d)
	}
	if failed != 2 {
		t.Errorf("%d of 8 requests failed, want every 4th: 2", failed)
	}
}
