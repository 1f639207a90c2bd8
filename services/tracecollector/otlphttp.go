package tracecollector

import (
	"bytes"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"sync"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/trilens/trilens/pkg/collect"
)

// encoding is an OTLP/HTTP body encoding; responses use the request's.
type encoding int

const (
	encProto encoding = iota
	encJSON
)

func (e encoding) contentType() string {
	if e == encJSON {
		return "application/json"
	}
	return "application/x-protobuf"
}

var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// serveHTTP implements OTLP/HTTP for traces, following the specification's
// response rules: 200 with a (partial success) ExportTraceServiceResponse,
// 400 with a google.rpc.Status for data that cannot be decoded, 415 for an
// unknown content type, 413 past the size limit, and 429 or 503 with
// Retry-After when overloaded or shutting down.
func (c *Collector) serveHTTP(w http.ResponseWriter, r *http.Request) {
	enc, ok := requestEncoding(r.Header.Get("Content-Type"))
	if !ok {
		c.metrics.requests.WithLabelValues("http", "unsupported_media_type").Inc()
		writeStatus(w, encProto, http.StatusUnsupportedMediaType, codes.InvalidArgument,
			"Content-Type must be application/x-protobuf or application/json", 0)
		return
	}
	if c.stopping.Load() {
		c.refuse(w, enc, http.StatusServiceUnavailable, errStopping)
		return
	}
	if !c.acquire() {
		c.refuse(w, enc, http.StatusTooManyRequests, errors.New("too many concurrent export requests"))
		return
	}
	defer c.release()
	req, err := c.set.Open(r)
	if err != nil {
		c.fail(w, enc, err)
		return
	}
	body := bodyPool.Get().(*bytes.Buffer)
	body.Reset()
	defer func() {
		// A rare huge body should not stay pinned in the pool.
		if body.Cap() <= 4<<20 {
			bodyPool.Put(body)
		}
	}()
	if _, err := body.ReadFrom(req.Body); err != nil {
		c.fail(w, enc, err)
		return
	}
	c.metrics.bytes.WithLabelValues("http").Add(float64(body.Len()))
	// pdata's decoders recurse once per nesting level without a limit: bound
	// the nesting first, or one deep body overflows the stack and kills the process.
	if enc == encJSON {
		err = collect.CheckJSON(body.Bytes(), c.set.Limits)
	} else {
		err = collect.CheckProto(body.Bytes(), exportRequestDesc, c.set.Limits)
	}
	if err != nil {
		c.fail(w, enc, err)
		return
	}
	ereq := ptraceotlp.NewExportRequest()
	if enc == encJSON {
		err = ereq.UnmarshalJSON(body.Bytes())
	} else {
		err = ereq.UnmarshalProto(body.Bytes())
	}
	if err != nil {
		c.metrics.requests.WithLabelValues("http", "bad_data").Inc()
		writeStatus(w, enc, http.StatusBadRequest, codes.InvalidArgument, "cannot decode OTLP "+enc.name()+" body: "+err.Error(), 0)
		return
	}
	rejected, reason, err := c.ingest(req.Tenant, req.Subject.GetEnvironment(), ereq.Traces())
	switch {
	case errors.Is(err, errOverloaded):
		c.refuse(w, enc, http.StatusTooManyRequests, err)
		return
	case errors.Is(err, errStopping):
		c.refuse(w, enc, http.StatusServiceUnavailable, err)
		return
	case err != nil:
		c.fail(w, enc, err)
		return
	}
	resp := ptraceotlp.NewExportResponse()
	if rejected > 0 {
		resp.PartialSuccess().SetRejectedSpans(int64(rejected))
		resp.PartialSuccess().SetErrorMessage(reason)
		c.metrics.requests.WithLabelValues("http", "partial").Inc()
	} else {
		c.metrics.requests.WithLabelValues("http", "ok").Inc()
	}
	var out []byte
	if enc == encJSON {
		out, err = resp.MarshalJSON()
	} else {
		out, err = resp.MarshalProto()
	}
	if err != nil {
		c.fail(w, enc, err)
		return
	}
	w.Header().Set("Content-Type", enc.contentType())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

func (e encoding) name() string {
	if e == encJSON {
		return "JSON"
	}
	return "protobuf"
}

func requestEncoding(ct string) (encoding, bool) {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return 0, false
	}
	switch mt {
	case "application/x-protobuf", "application/protobuf":
		return encProto, true
	case "application/json":
		return encJSON, true
	}
	return 0, false
}

// refuse answers a retryable refusal with the suggested delay.
func (c *Collector) refuse(w http.ResponseWriter, enc encoding, status int, err error) {
	c.metrics.requests.WithLabelValues("http", "refused").Inc()
	writeStatus(w, enc, status, codes.Unavailable, err.Error(), int(c.cfg.RetryAfter.Seconds()+0.999))
}

// fail maps collect's errors (auth, subject, size) to OTLP status bodies.
func (c *Collector) fail(w http.ResponseWriter, enc encoding, err error) {
	var ce *collect.Error
	switch {
	case errors.As(err, &ce):
		c.metrics.requests.WithLabelValues("http", "client_error").Inc()
		code := codes.InvalidArgument
		if ce.Status == http.StatusUnauthorized {
			code = codes.Unauthenticated
		}
		writeStatus(w, enc, ce.Status, code, ce.Error(), 0)
	case errors.Is(err, collect.ErrTooLarge):
		c.metrics.requests.WithLabelValues("http", "too_large").Inc()
		writeStatus(w, enc, http.StatusRequestEntityTooLarge, codes.InvalidArgument,
			"request body exceeds "+strconv.FormatInt(c.cfg.MaxRequestBytes, 10)+" bytes", 0)
	default:
		c.metrics.requests.WithLabelValues("http", "error").Inc()
		c.log.Error("OTLP/HTTP export failed", "err", err)
		writeStatus(w, enc, http.StatusInternalServerError, codes.Internal, err.Error(), 0)
	}
}

// writeStatus writes a google.rpc.Status body, as OTLP/HTTP requires for
// every 4xx and 5xx, in the request's encoding.
func writeStatus(w http.ResponseWriter, enc encoding, status int, code codes.Code, msg string, retryAfter int) {
	st := &spb.Status{Code: int32(code), Message: msg}
	var body []byte
	if enc == encJSON {
		body, _ = protojson.Marshal(st)
	} else {
		body, _ = proto.Marshal(st)
	}
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	w.Header().Set("Content-Type", enc.contentType())
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
