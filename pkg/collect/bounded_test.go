package collect

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

func wantStatus(t *testing.T, err error, status int) {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) || ce.Status != status {
		t.Fatalf("error %v, want a %d *Error", err, status)
	}
}

func deepJSON(n int) []byte {
	return []byte(`{"a":` + strings.Repeat(`[{"b":`, n) + `1` + strings.Repeat(`}]`, n) + `}`)
}

func TestCheckJSONDepth(t *testing.T) {
	l := Limits{MaxDepth: 10}
	for _, tc := range []struct {
		name string
		doc  string
		ok   bool
	}{
		{"flat", `{"a":[1,2,{"b":3}]}`, true},
		{"within the limit", `[` + string(deepJSON(4)) + `]`, true}, // 10 levels
		{"one past", `[` + string(deepJSON(5)) + `]`, false},
		{"brackets in strings do not count", `{"a":"` + strings.Repeat(`[{`, 100) + `\"[["}`, true},
		{"escaped quote keeps the string open", `{"a":"\"` + strings.Repeat(`[`, 100) + `"}`, true},
		{"ndjson lines each start at zero", strings.Repeat(string(deepJSON(4))+"\n", 50), true},
		{"a million levels", strings.Repeat(`[`, 1_000_000), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckJSON([]byte(tc.doc), l)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantStatus(t, err, http.StatusBadRequest)
			if !strings.Contains(err.Error(), "deeper than 10") {
				t.Errorf("error %q does not give the limit", err)
			}
		})
	}
	if err := CheckJSON(make([]byte, 11), Limits{MaxDecodedBytes: 10}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v, want ErrTooLarge", err)
	}
}

// TestJSONGuardStopsTheDecoder: the decoder reading through the guard gets
// the guard's 400 instead of the document, whatever the chunking.
func TestJSONGuardStopsTheDecoder(t *testing.T) {
	deep := deepJSON(100_000)
	var v any
	err := json.NewDecoder(JSONGuard(iotest.OneByteReader(bytes.NewReader(deep)), Limits{})).Decode(&v)
	wantStatus(t, err, http.StatusBadRequest)
	if !strings.Contains(err.Error(), "deeper than 128") {
		t.Errorf("error %q", err)
	}
	ok := deepJSON(50)
	got, err := io.ReadAll(JSONGuard(bytes.NewReader(ok), Limits{}))
	if err != nil || !bytes.Equal(got, ok) {
		t.Fatalf("a document within the limit: %v, %d of %d bytes", err, len(got), len(ok))
	}
}

// deepValue is a google.protobuf.Value holding a list holding a value ... n
// levels deep, built on the wire (marshalling such a value recurses too).
func deepValue(n int) []byte {
	// Lengths from the inside out: Value{list_value(6): ListValue{values(1): Value{...}}}.
	lens := make([]int, 2*n+1)
	for i := len(lens) - 2; i >= 0; i-- {
		inner := lens[i+1]
		lens[i] = 1 + protowire.SizeVarint(uint64(inner)) + inner
	}
	var b []byte
	for i := 0; i < len(lens)-1; i++ {
		num := protowire.Number(6) // Value.list_value
		if i%2 == 1 {
			num = 1 // ListValue.values
		}
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(lens[i+1]))
	}
	return b
}

func TestCheckProtoDepth(t *testing.T) {
	md := (&structpb.Value{}).ProtoReflect().Descriptor()
	real, err := proto.Marshal(structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewStringValue(strings.Repeat("[", 300))}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckProto(real, md, Limits{}); err != nil {
		t.Fatalf("a real message: %v", err)
	}
	if err := CheckProto(deepValue(60), md, Limits{}); err != nil {
		t.Fatalf("120 levels: %v", err)
	}
	// The wire walker agrees with the official decoder on what it built.
	if err := proto.Unmarshal(deepValue(60), &structpb.Value{}); err != nil {
		t.Fatalf("test message is not a valid Value: %v", err)
	}
	err = CheckProto(deepValue(1_000_000), md, Limits{})
	wantStatus(t, err, http.StatusBadRequest)
	if !strings.Contains(err.Error(), "deeper than 128") {
		t.Errorf("error %q", err)
	}
	// The same nesting under a field the schema does not know is still found.
	hidden := protowire.AppendTag(nil, 99, protowire.BytesType)
	hidden = protowire.AppendBytes(hidden, deepValue(100))
	wantStatus(t, CheckProto(hidden, md, Limits{}), http.StatusBadRequest)
	// Broken wire format is a 400 too, not a panic.
	wantStatus(t, CheckProto([]byte{0x32, 0xff, 0xff, 0x01}, md, Limits{}), http.StatusBadRequest)
	wantStatus(t, CheckProto([]byte{0x33}, md, Limits{}), http.StatusBadRequest) // a group
	if err := CheckProto(make([]byte, 11), md, Limits{MaxDecodedBytes: 10}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v, want ErrTooLarge", err)
	}
}

func FuzzCheckProto(f *testing.F) {
	f.Add(deepValue(200))
	f.Add(deepValue(3))
	md := (&structpb.Value{}).ProtoReflect().Descriptor()
	f.Fuzz(func(t *testing.T, b []byte) {
		if CheckProto(b, md, Limits{MaxDepth: 16}) != nil {
			return
		}
		// What the walker lets through the recursive decoder can take.
		_ = proto.Unmarshal(b, &structpb.Value{})
	})
}

func FuzzCheckJSON(f *testing.F) {
	f.Add(deepJSON(200))
	f.Add([]byte(`{"a":"[\"]"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		err := CheckJSON(b, Limits{MaxDepth: 16})
		// The guard reading in chunks agrees with the check on the whole.
		_, gerr := io.ReadAll(JSONGuard(iotest.HalfReader(bytes.NewReader(b)), Limits{MaxDepth: 16}))
		if (err == nil) != (gerr == nil) {
			t.Fatalf("CheckJSON %v, JSONGuard %v", err, gerr)
		}
	})
}
