package scancollector

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/server"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"github.com/trilens/trilens/services/scancollector/internal/jsonstream"
)

// Collector takes scanner reports over HTTP and publishes their findings.
type Collector struct {
	cfg     Config
	set     collect.Settings
	slots   chan struct{}
	metrics *metrics
}

// New builds a collector; cfg must be valid.
func New(cfg Config, set collect.Settings) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Publisher == nil {
		return nil, errors.New("scancollector: settings have no publisher")
	}
	if set.Now == nil {
		set.Now = time.Now
	}
	m, err := newMetrics(set.Registerer)
	if err != nil {
		return nil, err
	}
	return &Collector{cfg: cfg, set: set, slots: make(chan struct{}, cfg.MaxConcurrent), metrics: m}, nil
}

// Register mounts POST /v1/scans.
func (c *Collector) Register(mux server.Router) {
	mux.Handle("POST /v1/scans", http.HandlerFunc(c.serveScans))
}

// Accepted is the answer to an ingested report.
type Accepted struct {
	ReportID string         `json:"report_id"`
	Format   string         `json:"format"`
	Tools    []string       `json:"tools"`
	Events   int            `json:"events"`
	Rows     int            `json:"rows"`
	Document DocumentAnswer `json:"document"`
	// Severities counts the findings by severity name (critical, high, ...).
	Severities map[string]int `json:"severities"`
}

// DocumentAnswer names the stored original.
type DocumentAnswer struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// prefixSize is how much of a body format detection looks at.
const prefixSize = 64 << 10

func (c *Collector) serveScans(w http.ResponseWriter, r *http.Request) {
	acc, format, size, err := c.ingest(r)
	c.metrics.bytes.Add(float64(size))
	if err != nil {
		c.metrics.errors.WithLabelValues(reason(err)).Inc()
		var uf *UnknownFormatError
		if errors.As(err, &uf) {
			// The answer names every format tried and why it was rejected.
			collect.WriteJSON(w, http.StatusUnsupportedMediaType, struct {
				Field string `json:"field"`
				Error string `json:"error"`
				*UnknownFormatError
			}{"body", uf.Error(), uf})
			return
		}
		collect.WriteError(w, c.set.Logger, err)
		return
	}
	c.metrics.requests.WithLabelValues(format).Inc()
	c.metrics.rows.WithLabelValues(format).Add(float64(acc.Rows))
	collect.WriteJSON(w, http.StatusAccepted, acc)
}

// ingest decodes the whole body while copying it to a temp file, and only
// when all of it decoded stores the document and publishes the events:
// nothing is half-ingested.
func (c *Collector) ingest(r *http.Request) (*Accepted, string, int64, error) {
	ctx := r.Context()
	select {
	case c.slots <- struct{}{}:
		defer func() { <-c.slots }()
	case <-ctx.Done():
		return nil, "", 0, ctx.Err()
	}
	req, err := c.set.Open(r)
	if err != nil {
		return nil, "", 0, err
	}
	prefix, err := req.Body.Peek(prefixSize)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, "", 0, bodyErr(err)
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		format, err = Detect(prefix)
		var uf *UnknownFormatError
		if errors.As(err, &uf) && uf.Empty {
			if f, ok := FormatFromName(req.Name); ok {
				format, err = f, nil
			}
		}
		if err != nil {
			// A body past its limit is 413 whatever it holds.
			if n, cerr := io.Copy(io.Discard, req.Body); errors.Is(cerr, collect.ErrTooLarge) {
				return nil, "", n, cerr
			}
			return nil, "", 0, err
		}
	} else if _, ok := decoders[format]; !ok {
		return nil, "", 0, collect.Errorf(http.StatusBadRequest, "format", "unknown format %q: want one of %v", format, Formats)
	}

	tmp, err := os.CreateTemp(c.cfg.TempDir, "scan-*")
	if err != nil {
		return nil, format, 0, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	hash := sha256.New()
	file := bufio.NewWriterSize(tmp, 256<<10)
	counted := &countingWriter{}
	body := io.TeeReader(req.Body, io.MultiWriter(file, hash, counted))

	rep, err := Decode(format, body, c.cfg.MaxFindings)
	if err == nil {
		// The decoder stops at the end of the document; keep the trailing bytes too.
		_, err = io.Copy(io.Discard, body)
	}
	if err != nil {
		return nil, format, counted.n, decodeErr(format, err)
	}
	if err := file.Flush(); err != nil {
		return nil, format, counted.n, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, format, counted.n, err
	}
	sum := hex.EncodeToString(hash.Sum(nil))
	name := req.Name
	if name == "" {
		name = format + "-" + sum[:12] + ext(prefix)
	}
	doc, err := c.putDocument(bus.WithTenant(ctx, req.Tenant), &eventv1.DocumentRef{Sha256: sum, Size: counted.n, MediaType: mediaType(format, prefix), Name: name}, tmp)
	if err != nil {
		return nil, format, counted.n, fmt.Errorf("store document: %w", err)
	}
	applyScope(rep, r.URL.Query())
	reportID := ReportID(req.Tenant, sum, req.Subject)
	now := c.set.Now()
	evs := Events(rep, req.Tenant, reportID, c.cfg.PartSize, func(id string, p *eventv1.Producer) *eventv1.Envelope {
		env := c.set.Envelope(req, id, eventv1.Kind_KIND_SCAN, p, now)
		env.Document = doc
		return env
	})
	for _, ev := range evs {
		if err := events.Validate(ev); err != nil {
			return nil, format, counted.n, err
		}
	}
	if err := c.set.Publisher.Publish(ctx, evs...); err != nil {
		return nil, format, counted.n, fmt.Errorf("publish: %w", err)
	}
	acc := &Accepted{ReportID: reportID, Format: format, Events: len(evs), Rows: rep.Count(),
		Document: DocumentAnswer{SHA256: sum, Size: counted.n}, Severities: map[string]int{}}
	for _, run := range rep.Runs {
		acc.Tools = append(acc.Tools, run.Tool)
		for _, f := range run.Findings {
			acc.Severities[SeverityName(f.Severity)]++
		}
	}
	return acc, format, counted.n, nil
}

// applyScope sets what the client says a report covered (scope_root,
// scope_language, scope_target) on every run, over what the report says: a
// monorepo CI running gosec per module knows the module, gosec does not.
func applyScope(rep *Report, q url.Values) {
	for _, run := range rep.Runs {
		for param, field := range map[string]*string{
			"scope_root": &run.Scope.Root, "scope_language": &run.Scope.Language, "scope_target": &run.Scope.Target,
		} {
			if v := strings.TrimSpace(q.Get(param)); v != "" {
				*field = truncate(v, 512)
			}
		}
	}
}

// fileStore is implemented by publishers that take a document whose digest
// is known (pkg/bus): the body is already spooled and hashed, so it is not
// copied again.
type fileStore interface {
	PutDocumentFile(ctx context.Context, ref *eventv1.DocumentRef, r io.Reader) error
}

func (c *Collector) putDocument(ctx context.Context, ref *eventv1.DocumentRef, r io.Reader) (*eventv1.DocumentRef, error) {
	if fs, ok := c.set.Publisher.(fileStore); ok {
		return ref, fs.PutDocumentFile(ctx, ref, r)
	}
	return c.set.Publisher.PutDocument(ctx, ref.Name, ref.MediaType, r)
}

// decodeErr turns a decoder failure into a 4xx naming the format and where
// parsing failed; a body past its limit stays ErrTooLarge (413).
func decodeErr(format string, err error) error {
	switch {
	case errors.Is(err, collect.ErrTooLarge):
		return err
	case errors.Is(err, ErrTooManyFindings), errors.Is(err, jsonstream.ErrValueTooLarge):
		return collect.Errorf(http.StatusRequestEntityTooLarge, "body", "%s: %v", format, err)
	}
	var ce *collect.Error
	if errors.As(err, &ce) {
		return ce
	}
	return collect.Errorf(http.StatusBadRequest, "body", "%s: %v", format, err)
}

// bodyErr classifies a failure to read the first bytes.
func bodyErr(err error) error {
	if errors.Is(err, collect.ErrTooLarge) {
		return err
	}
	return collect.Errorf(http.StatusBadRequest, "body", "reading the body: %v", err)
}

func mediaType(format string, prefix []byte) string {
	switch {
	case isXML(prefix):
		return "application/xml"
	case format == FormatSARIF:
		return "application/sarif+json"
	}
	return "application/json"
}

func ext(prefix []byte) string {
	if isXML(prefix) {
		return ".xml"
	}
	return ".json"
}

// isXML says whether a document starts as XML (after a BOM and white space).
func isXML(prefix []byte) bool {
	b := bytes.TrimLeft(bytes.TrimPrefix(prefix, []byte("\xef\xbb\xbf")), " \t\r\n")
	return len(b) > 0 && b[0] == '<'
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// reason labels an error for the errors metric.
func reason(err error) string {
	var ce *collect.Error
	var uf *UnknownFormatError
	switch {
	case errors.Is(err, collect.ErrTooLarge), errors.Is(err, ErrTooManyFindings), errors.Is(err, jsonstream.ErrValueTooLarge):
		return "too_large"
	case errors.As(err, &uf):
		return "unknown_format"
	case errors.As(err, &ce) && ce.Status < 500:
		return "bad_request"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "internal"
}

type metrics struct {
	requests *prometheus.CounterVec
	rows     *prometheus.CounterVec
	errors   *prometheus.CounterVec
	bytes    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trilens_scancollector_reports_total", Help: "Scan reports ingested, by format."}, []string{"format"}),
		rows:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trilens_scancollector_findings_total", Help: "Findings ingested, by format."}, []string{"format"}),
		errors:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trilens_scancollector_errors_total", Help: "Rejected or failed reports, by reason."}, []string{"reason"}),
		bytes:    prometheus.NewCounter(prometheus.CounterOpts{Name: "trilens_scancollector_bytes_total", Help: "Decoded report bytes read."}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.rows, m.errors, m.bytes} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("scancollector metrics: %w", err)
		}
	}
	return m, nil
}
