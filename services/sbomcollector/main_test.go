package sbomcollector

import (
	"flag"
	"testing"

	"github.com/trilens/trilens/pkg/natstest"
	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, append(natstest.LeakOptions(),
		// syft's and stereoscope's package-level caches and loggers start these once per process.
		goleak.IgnoreTopFunction("github.com/anchore/go-logger/adapter/discard.(*logger).run"))...)
}
