package generate

import (
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// Cataloguing a directory of Go modules holds a modest live heap but makes
// garbage in bursts: the Go cataloger decodes `go list` output for up to
// 4×NumCPU modules at once. With the default GOGC the heap doubles before each
// collection, so the peak RSS is set by garbage, not by what syft keeps. While
// Generate runs, a soft memory limit of 1.5× the live heap, never under
// 300 MiB, caps that garbage: a small scan never reaches the floor, and as the
// limit follows the live heap it never falls under it, so the collector cannot
// thrash on a large image (there it costs about what GOGC=50 would). The syft
// CLI has no such limit.
const (
	memoryLimitFloor = 300 << 20
	// memoryLimitEvery is how often the limit follows the live heap.
	memoryLimitEvery = 100 * time.Millisecond
)

// memoryLimit is the soft limit for a live heap of live bytes.
func memoryLimit(live uint64) int64 {
	limit := live + live/2
	if limit < memoryLimitFloor {
		return memoryLimitFloor
	}
	if limit > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(limit)
}

// limiter is the one goroutine that follows the live heap, shared by
// overlapping Generate calls: the memory limit is the process's.
var limiter struct {
	sync.Mutex
	users int
	prev  int64
	done  chan struct{}
	ended chan struct{}
}

// limitMemory sets the soft memory limit from the live heap until the
// returned stop is called; the last stop puts the previous limit back. A
// limit the user set (GOMEMLIMIT) is left alone.
func limitMemory() (stop func()) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	limiter.Lock()
	defer limiter.Unlock()
	if limiter.users++; limiter.users == 1 {
		limiter.prev = debug.SetMemoryLimit(-1)
		limiter.done, limiter.ended = make(chan struct{}), make(chan struct{})
		followLiveHeap()
		go func(done <-chan struct{}, ended chan<- struct{}) {
			defer close(ended)
			t := time.NewTicker(memoryLimitEvery)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					followLiveHeap()
				}
			}
		}(limiter.done, limiter.ended)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			limiter.Lock()
			defer limiter.Unlock()
			if limiter.users--; limiter.users == 0 {
				close(limiter.done)
				<-limiter.ended
				debug.SetMemoryLimit(limiter.prev)
			}
		})
	}
}

// followLiveHeap sets the memory limit for the live heap the last collection left.
func followLiveHeap() {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() == metrics.KindUint64 {
		debug.SetMemoryLimit(memoryLimit(sample[0].Value.Uint64()))
	}
}
