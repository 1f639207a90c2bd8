package changecollector

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trilens/trilens/pkg/collect"
)

// fuzzHeaders give each format the headers it reads.
var fuzzHeaders = map[string]http.Header{
	FormatGitHub:       {"X-Github-Event": {"workflow_run"}},
	FormatGitLab:       {"X-Gitlab-Event": {"Pipeline Hook"}},
	FormatCloudEvents:  {"Ce-Specversion": {"1.0"}, "Ce-Id": {"1"}, "Ce-Source": {"/s"}, "Ce-Type": {"dev.cdevents.service.deployed.0.2.0"}, "Content-Type": {"application/json"}},
	FormatAlertmanager: {},
	FormatGeneric:      {},
}

// FuzzDecode feeds every decoder the real payloads, deep nesting and
// mutations of both: none may panic, nest past the limit, or return a
// change whose status does not fit its type.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "real", "*", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		for i := range Formats {
			f.Add(uint8(i), b)
		}
	}
	for i := range Formats {
		f.Add(uint8(i), []byte(strings.Repeat("[", 100000)))
		f.Add(uint8(i), []byte(`{"changes":`+strings.Repeat(`[{"a":`, 5000)))
		f.Add(uint8(i), []byte(`{"alerts":[{"labels":`+strings.Repeat(`{"x":`, 5000)+`}]}`))
	}
	lim := Limits{MaxDepth: 64, MaxChanges: 100}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		format := Formats[int(which)%len(Formats)]
		d, err := Decode(format, fuzzHeaders[format], body, lim)
		if err != nil {
			var ce *collect.Error
			if !errors.As(err, &ce) || ce.Status < 400 || ce.Status >= 500 {
				t.Fatalf("%s: error %v is not a 4xx", format, err)
			}
			return
		}
		if CheckDepth(body, lim.MaxDepth) != nil {
			t.Fatalf("%s: accepted a body nested past the limit", format)
		}
		if len(d.Records) > lim.MaxChanges {
			t.Fatalf("%s: %d changes past the limit", format, len(d.Records))
		}
		for _, r := range d.Records {
			if r.Change.GetId() == "" || !ValidStatus(r.Change.GetType(), r.Change.GetStatus()) {
				t.Fatalf("%s: invalid change %v", format, r.Change)
			}
		}
	})
}

func TestDeepNestingRefusedBeforeDecoding(t *testing.T) {
	for _, format := range Formats {
		for _, body := range []string{
			strings.Repeat("[", 1<<20),
			`{"id":"x","type":"deploy","status":"success","title":` + strings.Repeat(`{"a":`, 200) + `1` + strings.Repeat(`}`, 200) + `}`,
		} {
			_, err := Decode(format, fuzzHeaders[format], []byte(body), Limits{MaxDepth: 64, MaxChanges: 10})
			var ce *collect.Error
			if !errors.As(err, &ce) || ce.Status != http.StatusRequestEntityTooLarge || !strings.Contains(ce.Msg, "nested too deeply") {
				t.Fatalf("%s: %v, want 413 nested too deeply", format, err)
			}
		}
	}
	// Brackets inside strings are not nesting.
	if err := CheckDepth([]byte(`{"t":"`+strings.Repeat(`[{\"`, 100)+`"}`), 8); err != nil {
		t.Fatal(err)
	}
}
