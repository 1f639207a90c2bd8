package generate

import (
	"os"
	"sync"
)

// Most of the time spent cataloguing Go source goes to `go list`: syft's Go
// cataloger runs it on every go.mod it finds to learn the module graph. Each
// run is short-lived and allocates a lot, so with the default GOGC it spends
// much of its CPU collecting garbage it would drop on exit anyway. While
// Generate runs, the processes it starts get GOGC=goListGOGC unless the user
// set GOGC; syft passes them this process's environment, and this process's
// own collector is unaffected (the runtime reads GOGC once, at start).
const goListGOGC = "400"

var goListEnv struct {
	sync.Mutex
	users int
}

// tuneGoList sets GOGC for child processes until the returned restore is
// called; the last restore unsets it again.
func tuneGoList() (restore func()) {
	goListEnv.Lock()
	defer goListEnv.Unlock()
	if goListEnv.users == 0 {
		if _, set := os.LookupEnv("GOGC"); set {
			return func() {}
		}
		if err := os.Setenv("GOGC", goListGOGC); err != nil {
			return func() {} // children then run with the default GOGC
		}
	}
	goListEnv.users++
	var once sync.Once
	return func() {
		once.Do(func() {
			goListEnv.Lock()
			defer goListEnv.Unlock()
			if goListEnv.users--; goListEnv.users == 0 {
				_ = os.Unsetenv("GOGC") // fails only for a malformed name
			}
		})
	}
}
