// Package collect holds what every collector's HTTP ingest shares: the
// tenant and subject of the evidence, bearer-token auth, bounded and
// gzip-aware bodies, and JSON errors that name the problem.
package collect

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/events"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

// Settings are the dependencies a collector receives.
type Settings struct {
	Logger     *slog.Logger
	Publisher  bus.Publisher
	Registerer prometheus.Registerer
	Now        func() time.Time
	Auth       *Auth
	Limits     Limits
}

// Limits bound what one request may make the collector read.
type Limits struct {
	// MaxBodyBytes bounds the body as sent (compressed or not).
	MaxBodyBytes int64
	// MaxDecodedBytes bounds the body after decompression: a gzip bomb stops here.
	MaxDecodedBytes int64
	// MaxDepth bounds how deeply a document nests (0: DefaultMaxDepth); see CheckJSON and CheckProto.
	MaxDepth int
}

// DefaultLimits suit 100 MB reports.
var DefaultLimits = Limits{MaxBodyBytes: 256 << 20, MaxDecodedBytes: 1 << 30}

// ErrTooLarge is returned by a request body read past its limit.
var ErrTooLarge = errors.New("request body exceeds the configured limit")

// Error is an ingest failure a client can act on: status, the field or
// input that is wrong, and what was expected.
type Error struct {
	Status int    `json:"-"`
	Field  string `json:"field,omitempty"`
	Msg    string `json:"error"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Msg
	}
	return e.Msg
}

// Errorf builds an Error.
func Errorf(status int, field, format string, args ...any) *Error {
	return &Error{Status: status, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// WriteError answers with err as JSON: an *Error keeps its status, a body
// past its limit is 413, a document past the tenant's quota 507, anything
// else is 500 and logged.
func WriteError(w http.ResponseWriter, log *slog.Logger, err error) {
	var ie *Error
	var quota *bus.QuotaError
	switch {
	case errors.As(err, &ie):
	case errors.As(err, &quota):
		// 507: the request is fine, the tenant's document storage is full.
		ie = &Error{Status: http.StatusInsufficientStorage, Msg: quota.Error()}
	case errors.Is(err, ErrTooLarge):
		ie = &Error{Status: http.StatusRequestEntityTooLarge, Msg: err.Error()}
	default:
		if log != nil {
			log.Error("ingest failed", "err", err)
		}
		ie = &Error{Status: http.StatusInternalServerError, Msg: err.Error()}
	}
	WriteJSON(w, ie.Status, ie)
}

// WriteJSON answers with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Request is an authenticated ingest request: who sent it, what the evidence
// is about, and its body, decompressed and bounded.
type Request struct {
	Tenant  string
	Subject *eventv1.Subject
	// Body is decompressed when the request was gzip; reads past the limits fail with ErrTooLarge.
	Body *bufio.Reader
	// Name is the document's name: the `name` parameter or header, else "".
	Name string
}

// param reads a subject parameter from the query or an X-Trilens-<Name> header.
func param(r *http.Request, name string) string {
	if v := r.URL.Query().Get(name); v != "" {
		return v
	}
	return r.Header.Get("X-Trilens-" + strings.ReplaceAll(name, "_", "-"))
}

// ParseEnvironment maps ci, staging and production (case-insensitive) to the enum.
func ParseEnvironment(v string) (eventv1.Environment, error) {
	switch strings.ToLower(v) {
	case "":
		return eventv1.Environment_ENVIRONMENT_UNSPECIFIED, nil
	case "ci":
		return eventv1.Environment_ENVIRONMENT_CI, nil
	case "staging":
		return eventv1.Environment_ENVIRONMENT_STAGING, nil
	case "production", "prod":
		return eventv1.Environment_ENVIRONMENT_PRODUCTION, nil
	}
	return 0, fmt.Errorf("want ci, staging or production, got %q", v)
}

// Open authenticates r, reads its subject and opens its body. Errors are *Error.
func (s Settings) Open(r *http.Request) (*Request, error) {
	tenant, err := s.Auth.Tenant(r)
	if err != nil {
		return nil, err
	}
	subj := &eventv1.Subject{}
	for _, f := range subjectFields {
		*f.ref(subj) = param(r, f.name)
	}
	if err := ValidateSubject(subj); err != nil {
		return nil, err
	}
	name := param(r, "name")
	if err := Label.Check("name", name); err != nil {
		return nil, err
	}
	env, err := ParseEnvironment(param(r, "env"))
	if err != nil {
		return nil, Errorf(http.StatusBadRequest, "env", "%v", err)
	}
	subj.Environment = env
	limits := s.Limits
	if limits.MaxBodyBytes == 0 {
		limits = DefaultLimits
	}
	body, err := openBody(r, limits)
	if err != nil {
		return nil, err
	}
	return &Request{Tenant: tenant, Subject: subj, Body: body, Name: name}, nil
}

// openBody bounds the raw body, then decompresses it when it is gzip (by
// header or by its magic bytes) and bounds the result again.
func openBody(r *http.Request, l Limits) (*bufio.Reader, error) {
	raw := bufio.NewReaderSize(&limitedReader{r: r.Body, n: l.MaxBodyBytes}, 64<<10)
	magic, _ := raw.Peek(2)
	gz := strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") || (len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b)
	if !gz {
		return raw, nil
	}
	zr, err := gzip.NewReader(raw)
	if err != nil {
		return nil, Errorf(http.StatusBadRequest, "body", "gzip: %v", err)
	}
	return bufio.NewReaderSize(&limitedReader{r: zr, n: l.MaxDecodedBytes}, 64<<10), nil
}

// limitedReader fails with ErrTooLarge instead of stopping quietly at n, so a
// truncated document is never taken for a whole one.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			return 0, ErrTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// Envelope builds the envelope of one event of a request.
func (s Settings) Envelope(req *Request, id string, kind eventv1.Kind, producer *eventv1.Producer, observed time.Time) *eventv1.Envelope {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	if observed.IsZero() {
		observed = now()
	}
	return events.NewEnvelope(id, req.Tenant, kind, producer, req.Subject, observed)
}
