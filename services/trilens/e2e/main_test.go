// Package e2e runs Trilens as its users do: the real binary against a real
// NATS server and a real ClickHouse.
package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/store/chtest"
)

// trilensBin is the binary built once for the package.
var trilensBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "trilens-e2e-bin")
	if err != nil {
		panic(err)
	}
	trilensBin = filepath.Join(dir, "trilens")
	build := exec.Command("go", "build", "-o", trilensBin, "../cmd/trilens")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		panic("build trilens: " + err.Error())
	}
	code := chtest.Run(m, natstest.LeakOptions()...)
	_ = os.RemoveAll(dir)
	os.Exit(code)
}
