package loadcollector

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/server"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	loadtestv1 "github.com/trilens/trilens/proto/trilens/loadtest/v1"
)

// Collector serves POST /v1/loadruns and POST /v1/webvitals.
type Collector struct {
	cfg     Config
	set     collect.Settings
	log     *slog.Logger
	metrics *metrics
}

// Response is the 202 answer to an accepted document.
type Response struct {
	// ReportID identifies the submission: the document's digest with the
	// tenant, the subject and the test name, so the same file submitted for
	// another commit is another report.
	ReportID string `json:"report_id"`
	// Test is the test name a load run is filed under.
	Test   string `json:"test,omitempty"`
	Format string `json:"format"`
	Events int    `json:"events"`
	// Rows are the rows the events carry: scenarios and steps of a run, or URLs of a Lighthouse report.
	Rows int `json:"rows"`
	// Samples are the NDJSON lines (or Lighthouse runs) read.
	Samples int64  `json:"samples"`
	SHA256  string `json:"sha256"`
	Bytes   int64  `json:"bytes"`
}

// New checks the configuration and registers the collector's metrics.
func New(cfg Config, set collect.Settings) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Publisher == nil {
		return nil, errors.New("loadcollector: Settings.Publisher is nil")
	}
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	if set.Now == nil {
		set.Now = time.Now
	}
	m, err := newMetrics(set.Registerer)
	if err != nil {
		return nil, err
	}
	return &Collector{cfg: cfg, set: set, log: set.Logger.With("collector", "loadcollector"), metrics: m}, nil
}

// Register mounts the collector's endpoints.
func (c *Collector) Register(mux server.Router) {
	mux.Handle("POST /v1/loadruns", c.handler("loadruns", "application/json", c.loadRun))
	mux.Handle("POST /v1/webvitals", c.handler("webvitals", "application/json", c.webVitals))
}

// decodeFunc decodes a body and returns how to build its events once the
// report id (from the document's sha256, known only at the end) is known.
type decodeFunc func(r *http.Request, req *collect.Request, body *bufio.Reader) (build func(reportID string) []*eventv1.Event, resp Response, err error)

func (c *Collector) handler(endpoint, mediaType string, decode decodeFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := c.ingest(r, endpoint, mediaType, decode)
		if err != nil {
			c.metrics.errors.WithLabelValues(endpoint, reason(err)).Inc()
			collect.WriteError(w, c.log, err)
			return
		}
		c.metrics.requests.WithLabelValues(endpoint).Inc()
		c.metrics.rows.WithLabelValues(endpoint).Add(float64(resp.Rows))
		c.metrics.bytes.WithLabelValues(endpoint).Add(float64(resp.Bytes))
		collect.WriteJSON(w, http.StatusAccepted, resp)
	})
}

// ingest decodes the whole body before publishing anything: a malformed
// document publishes no event. The body is hashed as it streams (the report
// id), and spooled to a temp file for the object store when small enough.
func (c *Collector) ingest(r *http.Request, endpoint, mediaType string, decode decodeFunc) (Response, error) {
	req, err := c.set.Open(r)
	if err != nil {
		return Response{}, err
	}
	h := sha256.New()
	var sp *spool
	if c.cfg.StoreDocuments {
		if sp, err = newSpool(c.cfg.MaxDocumentBytes); err != nil {
			return Response{}, err
		}
		defer sp.Close()
	}
	counted := &countingWriter{}
	tee := io.MultiWriter(h, counted)
	if sp != nil {
		tee = io.MultiWriter(h, counted, sp)
	}
	body := bufio.NewReaderSize(io.TeeReader(req.Body, tee), 256<<10)
	doc, err := c.unwrapGzip(body)
	if err != nil {
		return Response{}, err
	}
	// Bound nesting before any decoder recurses into the document.
	doc = bufio.NewReaderSize(collect.JSONGuard(doc, c.set.Limits), 256<<10)
	build, resp, err := decode(r, req, doc)
	if err != nil {
		return Response{}, err
	}
	// Hash what decoding left unread (white space after a summary) too.
	if _, err := io.Copy(io.Discard, body); err != nil {
		return Response{}, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	reportID := collect.ReportID(req.Tenant, req.Subject, sum, resp.Test)
	evs := build(reportID)
	resp.SHA256, resp.ReportID, resp.Bytes, resp.Events = sum, reportID, counted.n, len(evs)
	if sp != nil && sp.ok() {
		ref, err := c.putDocument(r, sp, req.Tenant, req.Name, endpoint, mediaType)
		if err != nil {
			return Response{}, err
		}
		for _, ev := range evs {
			ev.Envelope.Document = ref
		}
	}
	if err := validate(evs); err != nil {
		return Response{}, err
	}
	if err := c.set.Publisher.Publish(r.Context(), evs...); err != nil {
		return Response{}, fmt.Errorf("publish: %w", err)
	}
	c.log.Info("accepted", "endpoint", endpoint, "report_id", reportID, "format", resp.Format, "events", len(evs), "bytes", counted.n)
	return resp, nil
}

// unwrapGzip opens a gzipped document inside the body: k6 writes
// `--out json=run.ndjson.gz` gzipped, and `trilens submit` gzips the upload
// again. The inner stream is bounded like the body, against gzip bombs.
func (c *Collector) unwrapGzip(body *bufio.Reader) (*bufio.Reader, error) {
	magic, _ := body.Peek(2)
	if len(magic) < 2 || magic[0] != 0x1f || magic[1] != 0x8b {
		return body, nil
	}
	zr, err := gzip.NewReader(body)
	if err != nil {
		return nil, collect.Errorf(http.StatusBadRequest, "body", "gzip document: %v", err)
	}
	limit := c.set.Limits.MaxDecodedBytes
	if limit == 0 {
		limit = collect.DefaultLimits.MaxDecodedBytes
	}
	return bufio.NewReaderSize(&boundedReader{r: zr, n: limit}, 256<<10), nil
}

// boundedReader fails with collect.ErrTooLarge past n bytes.
type boundedReader struct {
	r io.Reader
	n int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if b.n -= int64(n); b.n < 0 {
		return 0, collect.ErrTooLarge
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return n, collect.Errorf(http.StatusBadRequest, "body", "gzip document: %v", err)
	}
	return n, err
}

func (c *Collector) putDocument(r *http.Request, sp *spool, tenant, name, endpoint, mediaType string) (*eventv1.DocumentRef, error) {
	f, err := sp.reader()
	if err != nil {
		return nil, err
	}
	if name == "" {
		name = endpoint
	}
	ref, err := c.set.Publisher.PutDocument(bus.WithTenant(r.Context(), tenant), name, mediaType, f)
	if err != nil {
		return nil, fmt.Errorf("store document: %w", err)
	}
	return ref, nil
}

func (c *Collector) loadRun(r *http.Request, req *collect.Request, body *bufio.Reader) (func(string) []*eventv1.Event, Response, error) {
	run, samples, err := DecodeLoadRun(body, r.URL.Query().Get("format"), c.cfg.Steps)
	if err != nil {
		return nil, Response{}, err
	}
	c.metrics.samples.Add(float64(samples))
	test := r.URL.Query().Get("test")
	if test == "" {
		test = r.Header.Get("X-Trilens-Test")
	}
	if err := collect.Label.Check("test", test); err != nil {
		return nil, Response{}, err
	}
	run.TestName = testName(test, req, run)
	if err := collect.Label.Check("test", run.TestName); err != nil {
		return nil, Response{}, collect.Errorf(http.StatusBadRequest, "test", "the name made of the run's scenarios is unfit (%v): name the test with the test parameter", err)
	}
	for _, s := range run.Scenarios {
		if err := collect.Label.Check("scenario", s.Scenario); err != nil {
			return nil, Response{}, err
		}
	}
	build := func(id string) []*eventv1.Event { return []*eventv1.Event{loadRunEvent(c.set, req, run, id)} }
	return build, Response{Format: run.Format, Test: run.TestName, Rows: len(run.Scenarios) + len(run.Steps), Samples: samples}, nil
}

func (c *Collector) webVitals(r *http.Request, req *collect.Request, body *bufio.Reader) (func(string) []*eventv1.Event, Response, error) {
	vs, runs, err := decodeLighthouse(body)
	if err != nil {
		return nil, Response{}, err
	}
	build := func(id string) []*eventv1.Event { return webVitalsEvents(c.set, req, vs, id) }
	return build, Response{Format: "lighthouse", Rows: len(vs), Samples: int64(runs)}, nil
}

// startTime is when a run started, or now when the document does not say.
func startTime(run *loadtestv1.LoadRun, now func() time.Time) time.Time {
	if run != nil && run.StartedUnixNano > 0 {
		return time.Unix(0, run.StartedUnixNano)
	}
	return now()
}

func reason(err error) string {
	var ie *collect.Error
	switch {
	case errors.As(err, &ie):
		return fmt.Sprint(ie.Status)
	case errors.Is(err, collect.ErrTooLarge):
		return "too_large"
	}
	return "internal"
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// spool keeps a copy of the body in a temp file while it is at most limit
// bytes; past that it stops writing and the document is not stored.
type spool struct {
	f     *os.File
	n     int64
	limit int64
	over  bool
}

func newSpool(limit int64) (*spool, error) {
	f, err := os.CreateTemp("", "loadcollector-*")
	if err != nil {
		return nil, err
	}
	return &spool{f: f, limit: limit}, nil
}

func (s *spool) Write(p []byte) (int, error) {
	if s.over {
		return len(p), nil
	}
	if s.n+int64(len(p)) > s.limit {
		s.over = true
		return len(p), s.f.Truncate(0)
	}
	n, err := s.f.Write(p)
	s.n += int64(n)
	return len(p), err
}

func (s *spool) ok() bool { return !s.over }

func (s *spool) reader() (io.Reader, error) {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return s.f, nil
}

func (s *spool) Close() error {
	err := s.f.Close()
	_ = os.Remove(s.f.Name())
	return err
}

type metrics struct {
	requests, rows, bytes, errors *prometheus.CounterVec
	samples                       prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trilens_loadcollector_requests_total", Help: "Documents accepted, by endpoint."}, []string{"endpoint"}),
		rows:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trilens_loadcollector_rows_total", Help: "Rows (scenarios, steps, URLs) published, by endpoint."}, []string{"endpoint"}),
		bytes:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trilens_loadcollector_bytes_total", Help: "Body bytes read (decompressed), by endpoint."}, []string{"endpoint"}),
		errors:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trilens_loadcollector_errors_total", Help: "Rejected or failed documents, by endpoint and reason (HTTP status, too_large, internal)."}, []string{"endpoint", "reason"}),
		samples:  prometheus.NewCounter(prometheus.CounterOpts{Name: "trilens_loadcollector_ndjson_samples_total", Help: "k6 NDJSON lines read."}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.rows, m.bytes, m.errors, m.samples} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("loadcollector metrics: %w", err)
		}
	}
	return m, nil
}
