package tracker_test

import (
	"os"
	"testing"

	"github.com/trilens/trilens/pkg/store/chtest"
)

func TestMain(m *testing.M) { os.Exit(chtest.Run(m)) }
