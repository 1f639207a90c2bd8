package loadcollector

import (
	"testing"

	"github.com/trilens/trilens/pkg/natstest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, natstest.LeakOptions()...) }
