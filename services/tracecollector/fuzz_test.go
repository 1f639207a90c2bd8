package tracecollector

import (
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/trilens/trilens/pkg/collect"
)

// decodeAndAnalyse runs a decoded request through everything that reads
// span data: conversion, per-trace analysis, window aggregation and rendering.
func decodeAndAnalyse(t *testing.T, req ptraceotlp.ExportRequest) {
	rules := newRules(testPolicyT(t))
	conv := converter{rules: rules}
	spans, _, _ := conv.convert(req.Traces(), nil)
	byTrace := map[pcommon.TraceID][]span{}
	for _, s := range spans {
		byTrace[s.traceID] = append(byTrace[s.traceID], s)
	}
	an := newAnalyzer(rules)
	w := newWindow()
	var res result
	for _, ss := range byTrace {
		an.analyze(ss, &res)
		var sum int64
		for _, h := range res.hop {
			sum += h
		}
		if sum != res.dur {
			t.Fatalf("critical path credits %d ns of a %d ns trace", sum, res.dur)
		}
		w.add(&res, 5)
	}
	k := windowKey{service: "s", start: time.Now().UnixNano()}
	w.proto(k, int64(time.Minute))
	w.detections(k, 10, 0)
}

func fuzzSeeds() [][]byte {
	now := time.Unix(1_700_000_000, 0)
	var seeds [][]byte
	for _, n := range []int{1, 2, 7} {
		b, _ := request(n, now).MarshalProto()
		seeds = append(seeds, b)
	}
	return seeds
}

// The fuzz targets decode as the collector does: bounded first, then pdata.
// Their seeds include bodies nested far past the bound (pdata alone would
// overflow the stack on them).

func FuzzDecodeProto(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Add(deepProtoRequest(2_000))
	f.Add(deepProtoRequest(60))
	f.Fuzz(func(t *testing.T, data []byte) {
		if collect.CheckProto(data, exportRequestDesc, collect.Limits{}) != nil {
			return
		}
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(data); err != nil {
			return
		}
		decodeAndAnalyse(t, req)
	})
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range fuzzSeeds() {
		req := ptraceotlp.NewExportRequest()
		_ = req.UnmarshalProto(s)
		j, _ := req.MarshalJSON()
		f.Add(j)
	}
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","parentSpanId":"eee19b7ec3c1b174","startTimeUnixNano":"5","endTimeUnixNano":"1"}]}]}]}`))
	f.Add(deepJSONRequest(2_000))
	f.Add(deepJSONRequest(40))
	f.Fuzz(func(t *testing.T, data []byte) {
		if collect.CheckJSON(data, collect.Limits{}) != nil {
			return
		}
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalJSON(data); err != nil {
			return
		}
		decodeAndAnalyse(t, req)
	})
}

func FuzzNormalizeSQL(f *testing.F) {
	for _, s := range []string{"SELECT * FROM t WHERE id IN (1, 2, 3) AND name = 'o''brien'", "select $1, $22", "x = 0x1F -- '", "'unterminated"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		n := normalizeSQL(q)
		if len(n) > maxStatement+1 {
			t.Fatalf("normalised statement of %d bytes", len(n))
		}
		if normalizeSQL(n) != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", q, n, normalizeSQL(n))
		}
	})
}
