// Command syftprof is the syft CLI (anchore/syft's own cmd/syft/cli, the
// version this module pins, built against the same dependencies as
// `trilens sbom`) with a CPU profile: when SYFTPROF_CPU names a file, the
// whole run is profiled into it. scripts/bench.d/40-sbom.sh runs it beside
// sbombench so the two profiles compare like for like; syft's released
// binary has no profiling switch (its clio setup leaves dev.profile off).
package main

import (
	"log"
	"os"
	"runtime/debug"
	"runtime/pprof"

	"github.com/anchore/clio"
	"github.com/anchore/syft/cmd/syft/cli"
	_ "modernc.org/sqlite" // as syft's main: newer RPM databases
)

func main() {
	if path := os.Getenv("SYFTPROF_CPU"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			log.Fatalf("SYFTPROF_CPU: %v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatalf("SYFTPROF_CPU %s: %v", path, err)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	// A failed run exits inside Run, without the profile: only successful runs are measured.
	cli.Application(clio.Identification{Name: "syft", Version: syftVersion()}).Run()
}

// syftVersion is the syft module version this binary was built with.
func syftVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, m := range info.Deps {
			if m.Path == "github.com/anchore/syft" {
				return m.Version
			}
		}
	}
	return "unknown"
}
