package loadcollector

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"slices"

	"github.com/trilens/trilens/pkg/collect"
	loadtestv1 "github.com/trilens/trilens/proto/trilens/loadtest/v1"
)

// lhr is the part of a Lighthouse result (LHR) the collector reads; the
// decoder skips the rest (screenshots, traces) without keeping it.
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
		FormFactor string `json:"formFactor"`
	} `json:"configSettings"`
	Categories struct {
		Performance *struct {
			Score *float64 `json:"score"`
		} `json:"performance"`
	} `json:"categories"`
	Audits struct {
		LCP  audit `json:"largest-contentful-paint"`
		CLS  audit `json:"cumulative-layout-shift"`
		TBT  audit `json:"total-blocking-time"`
		INP  audit `json:"interaction-to-next-paint"`
		TTFB audit `json:"server-response-time"`
		FCP  audit `json:"first-contentful-paint"`
		SI   audit `json:"speed-index"`
		TTI  audit `json:"interactive"`
	} `json:"audits"`
}

type audit struct {
	NumericValue *float64 `json:"numericValue"`
}

func (a audit) value() float64 {
	if a.NumericValue == nil {
		return math.NaN()
	}
	return *a.NumericValue
}

func (r *lhr) url() string {
	for _, u := range []string{r.FinalDisplayedURL, r.FinalURL, r.RequestedURL} {
		if u != "" {
			return u
		}
	}
	return ""
}

// decodeLighthouse reads one Lighthouse JSON report, a JSON array of them, or
// several concatenated (`cat run*.json`), one run at a time, and returns the
// median run of every URL the way Lighthouse CI chooses it.
func decodeLighthouse(r *bufio.Reader) ([]*loadtestv1.WebVitals, int, error) {
	dec := json.NewDecoder(r)
	var runs []*lhr
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
		var run lhr
		err := dec.Decode(&run)
		if errors.Is(err, io.EOF) && !array {
			break
		}
		if err != nil {
			return nil, 0, bodyError(err, "Lighthouse JSON")
		}
		if run.LighthouseVersion == "" {
			return nil, 0, collect.Errorf(http.StatusBadRequest, "lighthouseVersion", "run %d is not a Lighthouse JSON report (no lighthouseVersion)", len(runs)+1)
		}
		runs = append(runs, &run)
	}
	if len(runs) == 0 {
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
	return out, len(runs), nil
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
		if v := r.Audits.INP.value(); isFinite(v) {
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

// vitals maps a run to the event; a metric the run lacks (INP outside
// timespan mode) is left 0. The performance score stays on Lighthouse's 0–1 scale.
func vitals(r *lhr, runs uint32) *loadtestv1.WebVitals {
	num := func(a audit) float64 {
		if v := a.value(); isFinite(v) {
			return v
		}
		return 0
	}
	w := &loadtestv1.WebVitals{
		Url:               r.url(),
		FormFactor:        r.ConfigSettings.FormFactor,
		LcpMs:             num(r.Audits.LCP),
		Cls:               num(r.Audits.CLS),
		TbtMs:             num(r.Audits.TBT),
		InpMs:             num(r.Audits.INP),
		TtfbMs:            num(r.Audits.TTFB),
		FcpMs:             num(r.Audits.FCP),
		SpeedIndexMs:      num(r.Audits.SI),
		Runs:              runs,
		LighthouseVersion: r.LighthouseVersion,
	}
	if p := r.Categories.Performance; p != nil && p.Score != nil {
		w.PerformanceScore = *p.Score
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
