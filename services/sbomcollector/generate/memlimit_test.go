package generate

import (
	"context"
	"io"
	"math"
	"runtime/debug"
	"testing"
)

func TestMemoryLimit(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int64
	}{
		{0, memoryLimitFloor},
		{memoryLimitFloor / 2, memoryLimitFloor},
		{1 << 30, 3 << 29},                  // above the floor: half the live heap as garbage
		{math.MaxUint64 / 2, math.MaxInt64}, // no overflow
	} {
		if got := memoryLimit(c.live); got != c.want {
			t.Errorf("memoryLimit(%d) = %d, want %d", c.live, got, c.want)
		}
	}
}

// TestLimitMemory checks that the limit binds only while Generate runs, that
// overlapping users share it, and that a GOMEMLIMIT of the user's wins.
func TestLimitMemory(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	stop1 := limitMemory()
	stop2 := limitMemory()
	if got := debug.SetMemoryLimit(-1); got < memoryLimitFloor || got == before {
		t.Errorf("limit while generating = %d, want at least %d", got, memoryLimitFloor)
	}
	stop1()
	stop1() // a second call of the same stop must not release the other user
	if got := debug.SetMemoryLimit(-1); got == before {
		t.Error("limit released while another Generate runs")
	}
	stop2()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("limit after Generate = %d, want the previous %d", got, before)
	}

	t.Setenv("GOMEMLIMIT", "1GiB")
	stop := limitMemory()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("limit with GOMEMLIMIT set = %d, want it left at %d", got, before)
	}
	stop()

	t.Setenv("GOMEMLIMIT", "")
	if _, err := Generate(context.Background(), t.TempDir(), io.Discard, Options{}); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("limit after Generate = %d, want the previous %d", got, before)
	}
}
