package loadcollector

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/trilens/trilens/pkg/collect"
	loadtestv1 "github.com/trilens/trilens/proto/trilens/loadtest/v1"
	"github.com/trilens/trilens/services/loadcollector/internal/quantile"
)

// maxLine bounds one NDJSON line: k6 writes a few hundred bytes per sample.
const maxLine = 1 << 20

// series are the request figures of one scenario, or of the whole run.
type series struct {
	reqs, failed, failTotal float64
	iterations              float64
	checksPass, checksFail  float64
	vusMax                  float64
	dur                     quantile.Histogram
}

// bin is one second of the run: the time series steps are cut from.
type bin struct {
	reqs, failed, failTotal float64
	vus                     float64
	hasVUs                  bool
	dur                     quantile.Histogram
}

// ndjsonDecoder folds a k6 `--out json` stream into run figures, per-second
// bins and threshold aggregates: memory grows with the run's duration and
// its scenarios, never with the number of samples.
type ndjsonDecoder struct {
	opt        StepOptions
	all        series
	scenarios  map[string]*series
	lastScen   []byte
	lastSeries *series
	none       series // samples outside any scenario, or past maxScenarios
	bins       map[int64]*bin
	lastSec    int64
	lastBin    *bin
	thresholds map[string]*thresholdAgg
	dropped    float64
	first, end int64 // unix nanos
	lines      int64

	// time parsing cache: samples of the same second share a prefix.
	tPrefix []byte
	tZone   []byte
	tSec    int64
}

// metricLine is k6's declaration of a metric, written before its first sample.
type metricLine struct {
	Data struct {
		Name       string            `json:"name"`
		Type       string            `json:"type"`
		Thresholds []json.RawMessage `json:"thresholds"`
	} `json:"data"`
}

func decodeNDJSON(r *bufio.Reader, opt StepOptions) (*loadtestv1.LoadRun, int64, error) {
	d := &ndjsonDecoder{
		opt:        opt,
		scenarios:  map[string]*series{},
		bins:       map[int64]*bin{},
		thresholds: map[string]*thresholdAgg{},
		lastSec:    -1 << 62,
	}
	var long []byte
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: gather it (bounded).
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = r.ReadSlice('\n')
				long = append(long, line...)
				if len(long) > maxLine {
					return nil, d.lines, collect.Errorf(http.StatusBadRequest, "body", "line %d is longer than %d bytes", d.lines+1, maxLine)
				}
			}
			line = long
		}
		if err != nil && err != io.EOF {
			return nil, d.lines, err // a read failure (body past its limit: 413), not the line's fault
		}
		if len(line) > 0 {
			d.lines++
			if perr := d.line(line); perr != nil {
				return nil, d.lines, collect.Errorf(http.StatusBadRequest, "body", "k6 NDJSON line %d: %v", d.lines, perr)
			}
		}
		if err == io.EOF {
			break
		}
	}
	if d.all.reqs == 0 && d.all.iterations == 0 && len(d.bins) == 0 {
		return nil, d.lines, collect.Errorf(http.StatusBadRequest, "body", "k6 NDJSON holds no samples")
	}
	return d.run(), d.lines, nil
}

func (d *ndjsonDecoder) line(b []byte) error {
	s := scanner{b: b}
	if s.peek() == 0 {
		return nil // blank line
	}
	var typ, metric []byte
	dataAt, handled := -1, false
	err := s.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "type":
			typ, err = s.str()
		case "metric":
			metric, err = s.str()
		case "data":
			// k6 writes metric and type before data: fold the sample in as it is read.
			if string(typ) == "Point" && metric != nil {
				handled = true
				return d.point(&s, metric)
			}
			dataAt = s.i
			err = s.skip()
		default:
			err = s.skip()
		}
		return err
	})
	if err != nil {
		return err
	}
	if s.peek() != 0 {
		return errSyntax
	}
	switch string(typ) {
	case "Point":
		if handled {
			return nil
		}
		if dataAt < 0 || metric == nil {
			return fmt.Errorf("sample without metric or data")
		}
		s = scanner{b: b, i: dataAt}
		return d.point(&s, metric)
	case "Metric":
		return d.metric(b)
	case "":
		return fmt.Errorf(`no "type": not k6 --out json output`)
	}
	return nil // types k6 may add later are ignored
}

func (d *ndjsonDecoder) metric(b []byte) error {
	var m metricLine
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	if len(m.Data.Thresholds) == 0 || d.thresholds[m.Data.Name] != nil {
		return nil
	}
	agg := &thresholdAgg{kind: m.Data.Type}
	for _, raw := range m.Data.Thresholds {
		// A threshold is "expr" or {"threshold": "expr", "abortOnFail": ...}.
		var src string
		if json.Unmarshal(raw, &src) != nil {
			var obj struct {
				Threshold string `json:"threshold"`
			}
			if err := json.Unmarshal(raw, &obj); err != nil {
				return fmt.Errorf("threshold of %s: %v", m.Data.Name, err)
			}
			src = obj.Threshold
		}
		agg.exprs = append(agg.exprs, src)
	}
	d.thresholds[m.Data.Name] = agg
	return nil
}

// point reads a sample's data object and folds it in.
func (d *ndjsonDecoder) point(s *scanner, metric []byte) error {
	var tm, scen []byte
	var value float64
	var haveValue bool
	err := s.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "time":
			tm, err = s.str()
		case "value":
			value, err = s.num()
			haveValue = err == nil
		case "tags":
			if s.peek() == 'n' {
				return s.skip()
			}
			err = s.object(func(tag []byte) error {
				if string(tag) == "scenario" && s.peek() == '"' {
					var e error
					scen, e = s.str()
					return e
				}
				return s.skip()
			})
		default:
			err = s.skip()
		}
		return err
	})
	if err != nil {
		return err
	}
	if tm == nil || !haveValue {
		return fmt.Errorf("sample of %s without time or value", metric)
	}
	sec, nanos, err := d.parseTime(tm)
	if err != nil {
		return err
	}
	if d.first == 0 || nanos < d.first {
		d.first = nanos
	}
	d.end = max(d.end, nanos)
	if t := d.thresholds[string(metric)]; t != nil {
		t.add(value)
	}
	switch string(metric) {
	case "http_reqs":
		b, sc := d.bin(sec), d.series(scen)
		b.reqs += value
		sc.reqs += value
		d.all.reqs += value
	case "http_req_duration":
		d.bin(sec).dur.Add(value)
		d.series(scen).dur.Add(value)
		d.all.dur.Add(value)
	case "http_req_failed":
		b, sc := d.bin(sec), d.series(scen)
		b.failTotal++
		sc.failTotal++
		d.all.failTotal++
		if value != 0 {
			b.failed++
			sc.failed++
			d.all.failed++
		}
	case "iterations":
		d.series(scen).iterations += value
		d.all.iterations += value
	case "checks":
		sc := d.series(scen)
		if value != 0 {
			sc.checksPass++
			d.all.checksPass++
		} else {
			sc.checksFail++
			d.all.checksFail++
		}
	case "vus":
		b := d.bin(sec)
		b.vus, b.hasVUs = value, true
		d.all.vusMax = max(d.all.vusMax, value)
	case "vus_max":
		d.all.vusMax = max(d.all.vusMax, value)
	case "dropped_iterations":
		d.dropped += value
	}
	return nil
}

func (d *ndjsonDecoder) bin(sec int64) *bin {
	if sec == d.lastSec {
		return d.lastBin
	}
	b := d.bins[sec]
	if b == nil {
		b = &bin{}
		d.bins[sec] = b
	}
	d.lastSec, d.lastBin = sec, b
	return b
}

// series returns the figures of a scenario; samples without one (setup,
// teardown) count only in the whole run.
func (d *ndjsonDecoder) series(scen []byte) *series {
	if len(scen) == 0 {
		return &d.none
	}
	if d.lastSeries != nil && bytes.Equal(scen, d.lastScen) {
		return d.lastSeries
	}
	sc := d.scenarios[string(scen)]
	if sc == nil {
		if len(d.scenarios) >= maxScenarios {
			return &d.none
		}
		sc = &series{}
		d.scenarios[string(scen)] = sc
	}
	d.lastScen, d.lastSeries = append(d.lastScen[:0], scen...), sc
	return sc
}

// maxScenarios bounds per-scenario state against a stream with runaway tags.
const maxScenarios = 256

// parseTime reads k6's RFC 3339 sample time. Samples of one second share
// everything up to the fraction, so a full parse runs about once a second.
func (d *ndjsonDecoder) parseTime(t []byte) (sec, nanos int64, err error) {
	if len(t) < 20 {
		return 0, 0, fmt.Errorf("time %q: want RFC 3339", t)
	}
	frac, zone := 19, 19
	var ns int64
	if t[19] == '.' {
		zone = 20
		scale := int64(100_000_000)
		for zone < len(t) && t[zone] >= '0' && t[zone] <= '9' {
			ns += int64(t[zone]-'0') * scale
			scale /= 10
			zone++
		}
	}
	if bytes.Equal(t[:frac], d.tPrefix) && bytes.Equal(t[zone:], d.tZone) {
		return d.tSec, d.tSec*1e9 + ns, nil
	}
	p, err := time.Parse(time.RFC3339Nano, string(t))
	if err != nil {
		return 0, 0, fmt.Errorf("time %q: want RFC 3339", t)
	}
	d.tPrefix = append(d.tPrefix[:0], t[:frac]...)
	d.tZone = append(d.tZone[:0], t[zone:]...)
	d.tSec = p.Unix()
	return d.tSec, p.UnixNano(), nil
}

func (d *ndjsonDecoder) run() *loadtestv1.LoadRun {
	dur := float64(d.end-d.first) / 1e9
	run := &loadtestv1.LoadRun{
		Format:          FormatNDJSON,
		StartedUnixNano: d.first,
		DurationS:       dur,
		Scenarios:       []*loadtestv1.ScenarioStats{d.all.stats("", dur)},
	}
	for _, name := range sortedKeys(d.scenarios) {
		run.Scenarios = append(run.Scenarios, d.scenarios[name].stats(name, dur))
	}
	for _, name := range sortedKeys(d.thresholds) {
		run.Thresholds = append(run.Thresholds, d.thresholds[name].results(name, dur)...)
	}
	run.ThresholdsPassed = allPassed(run.Thresholds)
	steps := d.steps()
	for _, st := range steps {
		run.Steps = append(run.Steps, st.Step)
	}
	run.Capacity = envelope(steps, d.opt)
	run.Capacity.GeneratorSaturated = run.Capacity.GeneratorSaturated || d.dropped > 0
	return run
}

func (s *series) stats(name string, dur float64) *loadtestv1.ScenarioStats {
	st := &loadtestv1.ScenarioStats{
		Scenario:     name,
		Requests:     s.reqs,
		P50Ms:        s.dur.Quantile(0.50),
		P90Ms:        s.dur.Quantile(0.90),
		P95Ms:        s.dur.Quantile(0.95),
		P99Ms:        s.dur.Quantile(0.99),
		Iterations:   s.iterations,
		VusMax:       s.vusMax,
		ChecksPassed: s.checksPass,
		ChecksFailed: s.checksFail,
	}
	if dur > 0 {
		st.Rps = s.reqs / dur
	}
	if s.failTotal > 0 {
		st.FailedRate = s.failed / s.failTotal
	} else {
		st.Absent = append(st.Absent, "failed_rate")
	}
	if s.dur.Count() == 0 {
		// No http_req_duration sample (a browser or gRPC-only run): latency is unknown, not 0.
		st.Absent = append(st.Absent, "p50_ms", "p90_ms", "p95_ms", "p99_ms")
	}
	return st
}

// steps cuts the per-second bins into load levels: runs of seconds at the
// same VU count (k6 samples `vus` once a second), less the first and last
// second of each run, which straddle a change of level.
func (d *ndjsonDecoder) steps() []step {
	secs := sortedKeys64(d.bins)
	var out []step
	var cur []int64
	level, known := 0.0, false
	flush := func() {
		if len(cur) >= d.opt.MinSeconds+2 {
			out = append(out, d.makeStep(cur[1:len(cur)-1], level))
		}
		cur = cur[:0]
	}
	for _, sec := range secs {
		b := d.bins[sec]
		if b.hasVUs && (!known || b.vus != level) {
			flush()
			level, known = b.vus, true
		}
		if known {
			cur = append(cur, sec)
		}
	}
	flush()
	for len(out) > maxSteps {
		out = halveSteps(out)
	}
	return out
}

// maxSteps bounds the steps of one run, so its event stays small however
// long and finely stepped the run was.
const maxSteps = 1000

// halveSteps merges neighbouring levels pairwise (their mean VU count).
func halveSteps(in []step) []step {
	out := make([]step, 0, (len(in)+1)/2)
	for i := 0; i < len(in); i += 2 {
		if i+1 == len(in) {
			out = append(out, in[i])
			break
		}
		a, b := in[i], in[i+1]
		m := step{Step: &loadtestv1.Step{StartUnixNano: a.StartUnixNano}, reqs: a.reqs + b.reqs}
		m.dur.Merge(&a.dur)
		m.dur.Merge(&b.dur)
		m.DurationS = a.DurationS + b.DurationS
		m.Vus = (a.Vus*a.DurationS + b.Vus*b.DurationS) / m.DurationS
		m.Rps = m.reqs / m.DurationS
		m.P95Ms = m.dur.Quantile(0.95)
		m.ErrorRate = (a.ErrorRate*a.DurationS + b.ErrorRate*b.DurationS) / m.DurationS
		out = append(out, m)
	}
	return out
}

func (d *ndjsonDecoder) makeStep(secs []int64, vus float64) step {
	var s step
	var failed, total float64
	for _, sec := range secs {
		b := d.bins[sec]
		s.reqs += b.reqs
		failed += b.failed
		total += b.failTotal
		s.dur.Merge(&b.dur)
	}
	n := float64(len(secs))
	s.Step = &loadtestv1.Step{
		StartUnixNano: secs[0] * 1e9,
		DurationS:     n,
		Vus:           vus,
		Rps:           s.reqs / n,
		P95Ms:         s.dur.Quantile(0.95),
	}
	if total > 0 {
		s.ErrorRate = failed / total
	}
	return s
}

func sortedKeys64[V any](m map[int64]V) []int64 {
	keys := make([]int64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
