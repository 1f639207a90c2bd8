package loadcollector

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"

	"github.com/trilens/trilens/pkg/collect"
	loadtestv1 "github.com/trilens/trilens/proto/trilens/loadtest/v1"
)

// lhr is the part of a Lighthouse result (LHR) the collector reads; the
// decoder skips the rest (screenshots, traces) without keeping it. It reads
// reports back to Lighthouse 3: older reports keep metrics in rawValue and
// under names Lighthouse has since changed, and lack the metrics added later
// (LCP, TBT and CLS came with Lighthouse 6), which stay absent.
type lhr struct {
	LighthouseVersion string `json:"lighthouseVersion"`
	// GatherMode is navigation (page loads), timespan (user flows: INP) or snapshot.
	GatherMode        string `json:"gatherMode"`
	RequestedURL      string `json:"requestedUrl"`
	FinalDisplayedURL string `json:"finalDisplayedUrl"`
	FinalURL          string `json:"finalUrl"` // before Lighthouse 10
	RuntimeError      *struct {
		Code string `json:"code"`
	} `json:"runtimeError"`
	ConfigSettings struct {
		FormFactor         string `json:"formFactor"`
		EmulatedFormFactor string `json:"emulatedFormFactor"` // before Lighthouse 7
	} `json:"configSettings"`
	Categories struct {
		Performance *struct {
			Score *float64 `json:"score"`
		} `json:"performance"`
	} `json:"categories"`
	Audits struct {
		LCP        audit `json:"largest-contentful-paint"`
		CLS        audit `json:"cumulative-layout-shift"`
		TBT        audit `json:"total-blocking-time"`
		INP        audit `json:"interaction-to-next-paint"`
		INPLegacy  audit `json:"experimental-interaction-to-next-paint"` // Lighthouse 9 and 10
		TTFB       audit `json:"server-response-time"`
		TTFBLegacy audit `json:"time-to-first-byte"` // before Lighthouse 6
		FCP        audit `json:"first-contentful-paint"`
		SI         audit `json:"speed-index"`
		TTI        audit `json:"interactive"`
	} `json:"audits"`
}

// lighthouseDoc is one JSON value of the body: a Lighthouse result, a
// user-flow result (steps[].lhr), or a PageSpeed Insights API response
// (lighthouseResult).
type lighthouseDoc struct {
	lhr
	Steps []struct {
		Name string `json:"name"`
		LHR  *lhr   `json:"lhr"`
	} `json:"steps"`
	LighthouseResult *lhr `json:"lighthouseResult"`
}

type audit struct {
	NumericValue *float64 `json:"numericValue"`
	// RawValue held the number before Lighthouse 5 (a boolean in pass/fail audits).
	RawValue any `json:"rawValue"`
}

func (a audit) value() float64 {
	if a.NumericValue != nil {
		return *a.NumericValue
	}
	if f, ok := a.RawValue.(float64); ok {
		return f
	}
	return math.NaN()
}

// or is a when the report measured it, else the legacy audit b.
func (a audit) or(b audit) audit {
	if isFinite(a.value()) {
		return a
	}
	return b
}

func (r *lhr) url() string {
	for _, u := range []string{r.FinalDisplayedURL, r.FinalURL, r.RequestedURL} {
		if u != "" {
			return u
		}
	}
	return ""
}

func (r *lhr) formFactor() string {
	if r.ConfigSettings.FormFactor != "" {
		return r.ConfigSettings.FormFactor
	}
	return r.ConfigSettings.EmulatedFormFactor
}

// decodeLighthouse reads one Lighthouse JSON report, a JSON array of them, or
// several concatenated (`cat run*.json`), one run at a time, and returns the
// median run of every URL the way Lighthouse CI chooses it. In a user-flow
// result each navigation and timespan step is a run of its own, named after
// the step (snapshots measure no timing and are left out).
func decodeLighthouse(r *bufio.Reader) ([]*loadtestv1.WebVitals, int, error) {
	dec := json.NewDecoder(r)
	var runs []*lhr
	var steps []*loadtestv1.WebVitals
	read := 0
	array := false
	if c, _ := peekNonSpace(r); c == '[' {
		array = true
		if _, err := dec.Token(); err != nil {
			return nil, 0, bodyError(err, "Lighthouse JSON")
		}
	}
	for {
		if array && !dec.More() {
			if _, err := dec.Token(); err != nil {
				return nil, 0, bodyError(err, "Lighthouse JSON")
			}
			break
		}
		var doc lighthouseDoc
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) && !array {
			break
		}
		if err != nil {
			return nil, 0, bodyError(err, "Lighthouse JSON")
		}
		read++
		switch {
		case len(doc.Steps) > 0:
			for i, st := range doc.Steps {
				if st.LHR == nil || st.LHR.LighthouseVersion == "" {
					return nil, 0, collect.Errorf(http.StatusBadRequest, fmt.Sprintf("steps[%d].lhr", i), "document %d: user-flow step %q holds no Lighthouse result", read, st.Name)
				}
				if st.LHR.RuntimeError != nil || (st.LHR.GatherMode != "navigation" && st.LHR.GatherMode != "timespan") {
					continue
				}
				if err := collect.Label.Check(fmt.Sprintf("steps[%d].name", i), st.Name); err != nil {
					return nil, 0, err
				}
				v := vitals(st.LHR, 1)
				v.Step = st.Name
				steps = append(steps, v)
			}
		case doc.LighthouseResult != nil && doc.LighthouseVersion == "":
			runs = append(runs, doc.LighthouseResult)
		case doc.LighthouseVersion == "":
			return nil, 0, collect.Errorf(http.StatusBadRequest, "lighthouseVersion", "document %d is not a Lighthouse JSON report or user-flow result (no lighthouseVersion, no steps)", read)
		default:
			runs = append(runs, &doc.lhr)
		}
	}
	if read == 0 {
		return nil, 0, collect.Errorf(http.StatusBadRequest, "body", "no Lighthouse report in the body")
	}
	var urls []string
	byURL := map[string][]*lhr{}
	for _, run := range runs {
		u := run.url()
		if byURL[u] == nil {
			urls = append(urls, u)
		}
		byURL[u] = append(byURL[u], run)
	}
	var out []*loadtestv1.WebVitals
	for _, u := range urls {
		if flow := flowRuns(byURL[u]); len(flow) > 0 {
			out = append(out, vitals(medianINPRun(flow), uint32(len(flow))))
			continue
		}
		valid := validRuns(byURL[u])
		if len(valid) == 0 {
			return nil, 0, collect.Errorf(http.StatusUnprocessableEntity, "audits", "no run of %s has both first-contentful-paint and interactive (a runtime error?): no median run", u)
		}
		out = append(out, vitals(medianRun(valid), uint32(len(valid))))
	}
	out = append(out, steps...)
	if len(out) == 0 {
		return nil, 0, collect.Errorf(http.StatusUnprocessableEntity, "steps", "no navigation or timespan step without a runtime error: nothing measured")
	}
	for i, v := range out {
		if err := collect.URL.Check(fmt.Sprintf("url (run %d)", i+1), v.Url); err != nil {
			return nil, 0, err
		}
	}
	return out, len(runs) + len(steps), nil
}

// validRuns keeps the runs Lighthouse CI would: finite FCP and TTI, no runtime error.
func validRuns(runs []*lhr) []*lhr {
	var out []*lhr
	for _, r := range runs {
		if r.RuntimeError == nil && isFinite(r.Audits.FCP.value()) && isFinite(r.Audits.TTI.value()) {
			out = append(out, r)
		}
	}
	return out
}

// flowRuns are the timespan runs (user flows) without a runtime error. They
// measure interactions (INP) rather than a page load, so Lighthouse CI's
// FCP/TTI median does not apply to them.
func flowRuns(runs []*lhr) []*lhr {
	var out []*lhr
	for _, r := range runs {
		if r.GatherMode == "timespan" && r.RuntimeError == nil {
			out = append(out, r)
		}
	}
	return out
}

// medianINPRun is the flow run closest to the median INP (ties: the lower
// INP, then the first); runs without INP count as 0.
func medianINPRun(runs []*lhr) *lhr {
	inp := func(r *lhr) float64 {
		if v := r.Audits.INP.or(r.Audits.INPLegacy).value(); isFinite(v) {
			return v
		}
		return 0
	}
	m := median(runs, inp)
	sorted := slices.Clone(runs)
	slices.SortStableFunc(sorted, func(a, b *lhr) int {
		if d := math.Abs(inp(a)-m) - math.Abs(inp(b)-m); d != 0 {
			return sign(d)
		}
		return sign(inp(a) - inp(b))
	})
	return sorted[0]
}

func isFinite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// medianRun is Lighthouse's computeMedianRun: the run closest (squared
// distance) to the median FCP and median TTI, ties to the lower TTI.
func medianRun(runs []*lhr) *lhr {
	fcp := median(runs, func(r *lhr) float64 { return r.Audits.FCP.value() })
	tti := median(runs, func(r *lhr) float64 { return r.Audits.TTI.value() })
	dist := func(r *lhr) float64 {
		a, b := fcp-r.Audits.FCP.value(), tti-r.Audits.TTI.value()
		return a*a + b*b
	}
	sorted := slices.Clone(runs)
	slices.SortStableFunc(sorted, func(a, b *lhr) int {
		if d := dist(a) - dist(b); d != 0 {
			return sign(d)
		}
		return sign(a.Audits.TTI.value() - b.Audits.TTI.value())
	})
	return sorted[0]
}

func median(runs []*lhr, f func(*lhr) float64) float64 {
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func sign(f float64) int {
	switch {
	case f < 0:
		return -1
	case f > 0:
		return 1
	}
	return 0
}

// vitals maps a run to the event. A metric the run lacks (LCP before
// Lighthouse 6, INP outside a timespan, LCP inside one) is 0 and named in
// absent, so it is never read as a measured 0. The performance score stays
// on Lighthouse's 0–1 scale.
func vitals(r *lhr, runs uint32) *loadtestv1.WebVitals {
	a := &r.Audits
	w := &loadtestv1.WebVitals{
		Url:               r.url(),
		FormFactor:        r.formFactor(),
		Runs:              runs,
		LighthouseVersion: r.LighthouseVersion,
	}
	for _, m := range []struct {
		name string
		a    audit
		dst  *float64
	}{
		{"lcp_ms", a.LCP, &w.LcpMs},
		{"cls", a.CLS, &w.Cls},
		{"tbt_ms", a.TBT, &w.TbtMs},
		{"inp_ms", a.INP.or(a.INPLegacy), &w.InpMs},
		{"ttfb_ms", a.TTFB.or(a.TTFBLegacy), &w.TtfbMs},
		{"fcp_ms", a.FCP, &w.FcpMs},
		{"speed_index_ms", a.SI, &w.SpeedIndexMs},
	} {
		if v := m.a.value(); isFinite(v) {
			*m.dst = v
		} else {
			w.Absent = append(w.Absent, m.name)
		}
	}
	if p := r.Categories.Performance; p != nil && p.Score != nil {
		w.PerformanceScore = *p.Score
	} else {
		w.Absent = append(w.Absent, "performance_score")
	}
	return w
}

// peekNonSpace returns the first byte after leading white space without consuming anything but it.
func peekNonSpace(r *bufio.Reader) (byte, error) {
	for {
		b, err := r.Peek(1)
		if err != nil {
			return 0, err
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			_, _ = r.Discard(1)
		default:
			return b[0], nil
		}
	}
}
