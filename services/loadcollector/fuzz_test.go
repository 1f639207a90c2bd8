package loadcollector

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/trilens/trilens/pkg/collect"
)

// guarded reads body as the collector does: through the nesting bound.
func guarded(body []byte) *bufio.Reader {
	return bufio.NewReader(collect.JSONGuard(bytes.NewReader(body), collect.Limits{}))
}

// deepDoc nests arrays and objects n levels deep after prefix.
func deepDoc(prefix string, n int) []byte {
	return []byte(prefix + strings.Repeat(`[{"a":`, n) + `1` + strings.Repeat(`}]`, n) + `}`)
}

// head is the first n lines of b: a small but real seed.
func head(b []byte, n int) []byte {
	for i, at := 0, 0; i < len(b); i++ {
		if b[i] == '\n' {
			if at++; at == n {
				return b[:i+1]
			}
		}
	}
	return b
}

// Every decoder of outside input either decodes or fails with a client
// error; it never panics or answers 500.
func FuzzDecodeLoadRun(f *testing.F) {
	f.Add(fixture(f, "k6/mixed-summary-export.json"))
	f.Add(fixture(f, "k6/mixed-handle-summary.json"))
	f.Add(fixture(f, "k6/steady-base-1.json"))
	f.Add(head(fixture(f, "k6/mixed.ndjson.gz"), 60))
	f.Add(head(fixture(f, "k6/stepped.ndjson.gz"), 200))
	f.Add([]byte("{\"metric\":\"vus\",\"type\":\"Point\",\"data\":{\"time\":\"2026-11-22T13:04:41.44Z\",\"value\":1,\"tags\":null}}\n"))
	f.Add([]byte(`{"metrics":{"http_reqs":{"count":1,"rate":0}}}`))
	f.Add(deepDoc(`{"metrics":{"http_reqs":`, 5000))
	f.Add(deepDoc(`{"type":"Metric","metric":"x","data":{"thresholds":`, 5000))
	f.Fuzz(func(t *testing.T, body []byte) {
		run, _, err := DecodeLoadRun(guarded(body), "", testSteps)
		if err != nil {
			var ie *collect.Error
			if !errors.As(err, &ie) || ie.Status >= 500 {
				t.Fatalf("error %v is not a client error", err)
			}
			return
		}
		if len(run.Scenarios) == 0 || run.Capacity == nil {
			t.Fatalf("decoded run without whole-run figures or capacity: %v", run)
		}
	})
}

func FuzzDecodeLighthouse(f *testing.F) {
	f.Add(fixture(f, lighthouseRuns[0]))
	f.Add(fixture(f, "lighthouse/flow1.json"))
	f.Add([]byte(`{"lighthouseVersion":"13.5.0","requestedUrl":"http://x/","audits":{"first-contentful-paint":{"numericValue":1},"interactive":{"numericValue":2}}}`))
	f.Add([]byte(`[{"lighthouseVersion":"13.5.0","audits":{"first-contentful-paint":{"numericValue":1},"interactive":{"numericValue":2}}}]`))
	f.Add([]byte(`{"steps":[{"name":"home","lhr":{"lighthouseVersion":"9.5.0","gatherMode":"navigation","finalUrl":"http://x/","audits":{"time-to-first-byte":{"rawValue":12}}}},{"name":"type","lhr":{"lighthouseVersion":"9.5.0","gatherMode":"timespan","finalUrl":"http://x/","audits":{"experimental-interaction-to-next-paint":{"numericValue":40}}}}]}`))
	f.Add([]byte(`{"lighthouseVersion":"4.3.0","finalUrl":"http://x/","audits":{"first-contentful-paint":{"rawValue":780},"interactive":{"rawValue":943,"numericValue":null}}}`))
	f.Add(deepDoc(`{"lighthouseVersion":"13.5.0","audits":`, 5000))
	f.Add(deepDoc(`{"steps":[{"lhr":`, 5000))
	f.Fuzz(func(t *testing.T, body []byte) {
		vs, _, err := decodeLighthouse(guarded(body))
		if err != nil {
			var ie *collect.Error
			if !errors.As(err, &ie) || ie.Status >= 500 {
				t.Fatalf("error %v is not a client error", err)
			}
			return
		}
		if len(vs) == 0 {
			t.Fatal("decoded no URL without an error")
		}
	})
}
