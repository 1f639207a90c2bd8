// Package eventstest compares events with golden files.
package eventstest

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Golden compares evs with the protojson file at path, one event after the
// other, with received_at cleared (it is the clock of the test run); with
// update set it rewrites the file first.
func Golden(t testing.TB, path string, evs []*eventv1.Event, update bool) {
	t.Helper()
	var buf bytes.Buffer
	for _, ev := range evs {
		ev = proto.Clone(ev).(*eventv1.Event)
		ev.Envelope.ReceivedAt = nil
		b, err := protojson.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		// protojson varies its spacing on purpose; indent it one stable way.
		if err := json.Indent(&buf, b, "", "  "); err != nil {
			t.Fatal(err)
		}
		buf.WriteByte('\n')
	}
	if update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(want, buf.Bytes()) {
		t.Errorf("events differ from %s (run go test -update to accept the new output)", path)
	}
}
