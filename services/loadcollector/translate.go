package loadcollector

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/events"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	loadtestv1 "github.com/trilens/trilens/proto/trilens/loadtest/v1"
)

// DecodeLoadRun reads any k6 output the collector accepts, detecting which
// (format "" or one of the Format constants to insist on one). NDJSON is
// streamed; summaries are small and decoded whole. samples counts NDJSON lines.
func DecodeLoadRun(r *bufio.Reader, format string, opt StepOptions) (run *loadtestv1.LoadRun, samples int64, err error) {
	want := format
	if format == "" {
		if format, err = detectFormat(r); err != nil {
			return nil, 0, err
		}
	}
	switch format {
	case FormatNDJSON:
		return decodeNDJSON(r, opt)
	case FormatSummaryExport, FormatHandleSummary:
		run, err = decodeSummary(r)
		if err == nil && want != "" && run.Format != want {
			return nil, 0, collect.Errorf(http.StatusBadRequest, "format", "body is %s, not %s", run.Format, format)
		}
		return run, 0, err
	}
	return nil, 0, collect.Errorf(http.StatusBadRequest, "format", "unknown format %q: want %s, %s or %s", format, FormatSummaryExport, FormatHandleSummary, FormatNDJSON)
}

// detectFormat tells a k6 NDJSON stream (its first line is a complete object
// with "type": "Metric" or "Point") from an end-of-test summary.
func detectFormat(r *bufio.Reader) (string, error) {
	c, err := peekNonSpace(r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return "", collect.Errorf(http.StatusBadRequest, "body", "empty body: want k6 JSON output")
		}
		return "", err
	}
	if c != '{' {
		return "", collect.Errorf(http.StatusBadRequest, "body", "not k6 JSON output: want an object, got %q", c)
	}
	head, _ := r.Peek(4096)
	if i := strings.IndexByte(string(head), '\n'); i > 0 {
		var probe struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(head[:i], &probe) == nil && (probe.Type == "Metric" || probe.Type == "Point") {
			return FormatNDJSON, nil
		}
	}
	return FormatSummaryExport, nil // or handleSummary: decodeSummary tells them apart
}

// bodyError makes a JSON decoding failure a 400 naming what was expected;
// a body past its size limit stays collect.ErrTooLarge (413).
func bodyError(err error, what string) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, collect.ErrTooLarge):
		return err
	case errors.As(err, &syn):
		return collect.Errorf(http.StatusBadRequest, "body", "%s: %v at byte %d", what, syn, syn.Offset)
	case errors.As(err, &typ):
		return collect.Errorf(http.StatusBadRequest, typ.Field, "%s: %v", what, typ)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return collect.Errorf(http.StatusBadRequest, "body", "%s: unexpected end of input", what)
	}
	return collect.Errorf(http.StatusBadRequest, "body", "%s: %v", what, err)
}

// testName names a run for baselines: the `test` parameter (or
// X-Trilens-Test header), else the journey, else the scenarios it ran. The
// document's file name is not used: every k6 run may write summary.json.
func testName(test string, req *collect.Request, run *loadtestv1.LoadRun) string {
	if test != "" {
		return test
	}
	if j := req.Subject.GetJourney(); j != "" {
		return j
	}
	var names []string
	for _, s := range run.Scenarios {
		if s.Scenario != "" && !strings.Contains(s.Scenario, ":") {
			names = append(names, s.Scenario)
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		return "default"
	}
	return strings.Join(names, "+")
}

// producer of every event of this collector.
func producer(tool, version string) *eventv1.Producer {
	return &eventv1.Producer{Collector: "loadcollector", Tool: tool, ToolVersion: version}
}

// loadRunEvent wraps a run in its one event: a run is a few kilobytes
// whatever the size of the stream it came from.
func loadRunEvent(set collect.Settings, req *collect.Request, run *loadtestv1.LoadRun, reportID string) *eventv1.Event {
	run.RunId = reportID
	id := events.ID(req.Tenant, events.KindName(eventv1.Kind_KIND_LOAD_RUN), reportID, "0")
	env := set.Envelope(req, id, eventv1.Kind_KIND_LOAD_RUN, producer("k6", ""), startTime(run, set.Now))
	env.Part = &eventv1.Part{ReportId: reportID, Index: 0, Count: 1}
	return &eventv1.Event{Envelope: env, Payload: &eventv1.Event_LoadRun{LoadRun: run}}
}

// webVitalsEvents makes one event per URL, as parts of one report.
func webVitalsEvents(set collect.Settings, req *collect.Request, vs []*loadtestv1.WebVitals, reportID string) []*eventv1.Event {
	out := make([]*eventv1.Event, 0, len(vs))
	for i, v := range vs {
		id := events.ID(req.Tenant, events.KindName(eventv1.Kind_KIND_WEB_VITALS), reportID, strconv.Itoa(i))
		env := set.Envelope(req, id, eventv1.Kind_KIND_WEB_VITALS, producer("lighthouse", v.LighthouseVersion), startTime(nil, set.Now))
		env.Part = &eventv1.Part{ReportId: reportID, Index: uint32(i), Count: uint32(len(vs))}
		out = append(out, &eventv1.Event{Envelope: env, Payload: &eventv1.Event_WebVitals{WebVitals: v}})
	}
	return out
}

func validate(evs []*eventv1.Event) error {
	for _, ev := range evs {
		if err := events.Validate(ev); err != nil {
			return fmt.Errorf("built an invalid event: %w", err)
		}
	}
	return nil
}
