package sbomcollector

import (
	"flag"
	"testing"

	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*Server).logRejectedTLSConns"),
		// syft's and stereoscope's package-level caches and loggers start these once per process.
		goleak.IgnoreTopFunction("github.com/anchore/go-logger/adapter/discard.(*logger).run"),
	)
}
