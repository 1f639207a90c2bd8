package tracecollector

import (
	"math"
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/trilens/trilens/pkg/collect"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	tracev1 "github.com/trilens/trilens/proto/trilens/trace/v1"
)

// span is the part of an OTLP span the analysis needs, copied out of the
// request so the request can be dropped at once.
type span struct {
	traceID pcommon.TraceID
	id      pcommon.SpanID
	parent  pcommon.SpanID
	name    string
	kind    ptrace.SpanKind
	start   int64
	end     int64
	err     bool
	service string
	env     eventv1.Environment
	class   tracev1.HopClass
	// peer is the database system, host or queue the span talks to.
	peer string
	// stmt is the normalised DB statement (or operation) of a DB span.
	stmt  string
	route string
	// weight is how many spans this one stands for under sampling (1 unsampled).
	weight float64
	// attrs holds the attributes journey rules read, as key, value pairs.
	attrs []string
}

func (s *span) attr(k string) (string, bool) {
	for i := 0; i+1 < len(s.attrs); i += 2 {
		if s.attrs[i] == k {
			return s.attrs[i+1], true
		}
	}
	return "", false
}

func (s *span) dur() int64 { return max(s.end-s.start, 0) }

// client reports whether the span waits on a remote call.
func (s *span) client() bool { return s.kind == ptrace.SpanKindClient }

// converter turns OTLP traces into spans under one set of rules.
type converter struct {
	rules *rules
	// defaultEnv applies when a resource names no known deployment environment.
	defaultEnv eventv1.Environment
}

// convert appends the spans of td to out; it returns how many spans it had to
// reject (no trace or span id) and why, for OTLP's partial success.
func (c *converter) convert(td ptrace.Traces, out []span) ([]span, int, string) {
	// Names, peers, routes and statements repeat across the spans of a
	// request: keeping one copy of each shrinks what waits in the trace
	// buffers, and each statement is normalised once.
	in := interner{strs: map[string]string{}, stmts: map[string]string{}}
	rejected := 0
	reason := ""
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		service, env := "unknown_service", c.defaultEnv
		rs.Resource().Attributes().Range(func(k string, v pcommon.Value) bool {
			switch k {
			case "service.name":
				service = v.AsString()
			case "deployment.environment.name", "deployment.environment":
				if e, ok := parseEnv(v.AsString()); ok {
					env = e
				}
			}
			return true
		})
		sss := rs.ScopeSpans()
		// The service names windows the scorer groups and queries by: one it
		// could not store or bind is refused here, with the reason.
		if err := collect.Label.Check("service.name", service); err != nil {
			for j := 0; j < sss.Len(); j++ {
				rejected += sss.At(j).Spans().Len()
			}
			reason = "resource attribute " + err.Error()
			continue
		}
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				ps := spans.At(k)
				if ps.TraceID().IsEmpty() || ps.SpanID().IsEmpty() {
					rejected++
					reason = "spans without a trace id or span id were rejected"
					continue
				}
				out = append(out, c.span(ps, service, env, &in))
			}
		}
	}
	return out, rejected, reason
}

// interner keeps one copy of each string of a request.
type interner struct {
	strs  map[string]string
	stmts map[string]string
}

func (in *interner) str(s string) string {
	if v, ok := in.strs[s]; ok {
		return v
	}
	in.strs[s] = s
	return s
}

// stmt normalises a statement once per request.
func (in *interner) stmt(raw string) string {
	if v, ok := in.stmts[raw]; ok {
		return v
	}
	v := in.str(normalizeSQL(raw))
	in.stmts[raw] = v
	return v
}

func parseEnv(v string) (eventv1.Environment, bool) {
	switch strings.ToLower(v) {
	case "production", "prod":
		return eventv1.Environment_ENVIRONMENT_PRODUCTION, true
	case "staging", "stage":
		return eventv1.Environment_ENVIRONMENT_STAGING, true
	case "ci", "test":
		return eventv1.Environment_ENVIRONMENT_CI, true
	}
	return 0, false
}

// span copies one OTLP span and classifies it. One pass over the attributes:
// looking each key up separately costs several times more.
func (c *converter) span(ps ptrace.Span, service string, env eventv1.Environment, in *interner) span {
	s := span{
		traceID: ps.TraceID(),
		id:      ps.SpanID(),
		parent:  ps.ParentSpanID(),
		name:    in.str(ps.Name()),
		kind:    ps.Kind(),
		start:   int64(ps.StartTimestamp()),
		end:     int64(ps.EndTimestamp()),
		err:     ps.Status().Code() == ptrace.StatusCodeError,
		service: service,
		env:     env,
		weight:  weightFromTraceState(ps.TraceState().AsRaw()),
	}
	var dbSystem, stmt, dbOp, msgSystem, host, urlFull, peerService string
	var status int64
	ps.Attributes().Range(func(k string, v pcommon.Value) bool {
		switch k {
		case "db.system.name", "db.system":
			dbSystem = v.AsString()
		case "db.query.text", "db.statement":
			stmt = v.Str()
		case "db.operation.name", "db.operation":
			dbOp = v.AsString()
		case "messaging.system":
			msgSystem = v.AsString()
		case "server.address", "net.peer.name":
			host = v.AsString()
		case "url.full", "http.url":
			urlFull = v.AsString()
		case "peer.service":
			peerService = v.AsString()
		case "http.route":
			s.route = in.str(v.AsString())
		case "http.response.status_code", "http.status_code":
			status = intValue(v)
		case "sampling.adjusted_count", "SampleRate":
			if w := floatValue(v); w >= 1 && s.weight == 1 {
				s.weight = w
			}
		}
		if c.rules.attrKeys[k] {
			s.attrs = append(s.attrs, k, v.AsString())
		}
		return true
	})
	if status >= 500 && s.kind == ptrace.SpanKindServer {
		s.err = true
	}
	if host == "" && urlFull != "" {
		if u, err := url.Parse(urlFull); err == nil {
			host = u.Hostname()
		}
	}
	switch {
	case c.rules.hopOf(service) != tracev1.HopClass_HOP_CLASS_UNSPECIFIED:
		s.class, s.peer = c.rules.hopOf(service), service
	case dbSystem != "":
		s.class, s.peer = tracev1.HopClass_HOP_CLASS_DB, in.str(dbSystem)
		switch {
		case stmt != "":
			s.stmt = in.stmt(stmt)
		case dbOp != "":
			s.stmt = dbOp
		default:
			s.stmt = s.name
		}
	case msgSystem != "" || s.kind == ptrace.SpanKindProducer || s.kind == ptrace.SpanKindConsumer:
		s.class, s.peer = tracev1.HopClass_HOP_CLASS_QUEUE, in.str(msgSystem)
	case s.kind == ptrace.SpanKindClient:
		if host == "" {
			host = peerService
		}
		s.peer = in.str(host)
		if c.rules.external(host) {
			s.class = tracev1.HopClass_HOP_CLASS_EXTERNAL
		} else {
			s.class = tracev1.HopClass_HOP_CLASS_INTERNAL
		}
	default:
		s.class, s.peer = tracev1.HopClass_HOP_CLASS_API, service
	}
	return s
}

func intValue(v pcommon.Value) int64 {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int()
	case pcommon.ValueTypeDouble:
		return int64(v.Double())
	case pcommon.ValueTypeStr:
		n, _ := strconv.ParseInt(v.Str(), 10, 64)
		return n
	}
	return 0
}

func floatValue(v pcommon.Value) float64 {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return float64(v.Int())
	case pcommon.ValueTypeDouble:
		return v.Double()
	case pcommon.ValueTypeStr:
		f, _ := strconv.ParseFloat(v.Str(), 64)
		return f
	}
	return 0
}

// weightFromTraceState reads OpenTelemetry's probability sampling threshold
// (tracestate "ot=th:<hex>", the rejection threshold out of 2^56) and returns
// the span's adjusted count, 1/p; without one a span stands for itself.
func weightFromTraceState(ts string) float64 {
	i := strings.Index(ts, "ot=")
	if i < 0 {
		return 1
	}
	ot := ts[i+3:]
	if j := strings.IndexByte(ot, ','); j >= 0 {
		ot = ot[:j]
	}
	for _, kv := range strings.Split(ot, ";") {
		th, ok := strings.CutPrefix(kv, "th:")
		if !ok || th == "" || len(th) > 14 {
			continue
		}
		// th is the most significant hex digits of a 56-bit number; trailing zeros are omitted.
		v, err := strconv.ParseUint(th+strings.Repeat("0", 14-len(th)), 16, 64)
		if err != nil {
			return 1
		}
		p := 1 - float64(v)/math.Exp2(56)
		if p <= 0 {
			return 1
		}
		return 1 / p
	}
	return 1
}
