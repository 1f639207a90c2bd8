package generate

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// childGOGC is the GOGC a process started now sees.
func childGOGC(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("sh", "-c", `echo "${GOGC-unset}"`).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func TestChildProcessesGetALargerGCTarget(t *testing.T) {
	if v, set := os.LookupEnv("GOGC"); set {
		t.Setenv("GOGC", v) // restored after the test
		os.Unsetenv("GOGC")
	}
	first := tuneGoList()
	second := tuneGoList() // overlapping generations share the setting
	if got := childGOGC(t); got != goListGOGC {
		t.Fatalf("a child started during generation sees GOGC=%s, want %s", got, goListGOGC)
	}
	first()
	first() // a second call of one restore does nothing
	if got := childGOGC(t); got != goListGOGC {
		t.Fatalf("after the first of two generations ended, a child sees GOGC=%s, want %s", got, goListGOGC)
	}
	second()
	if got := childGOGC(t); got != "unset" {
		t.Fatalf("after generation a child sees GOGC=%s, want it unset again", got)
	}
}

func TestUsersGOGCIsLeftAlone(t *testing.T) {
	t.Setenv("GOGC", "50")
	restore := tuneGoList()
	if got := childGOGC(t); got != "50" {
		t.Errorf("with GOGC=50 set by the user, a child sees GOGC=%s", got)
	}
	restore()
	if got := os.Getenv("GOGC"); got != "50" {
		t.Errorf("after generation GOGC=%q, want the user's 50", got)
	}
}
