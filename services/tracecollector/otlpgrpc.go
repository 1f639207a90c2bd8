package tracecollector

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // OTLP servers must accept gzip
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"

	"github.com/trilens/trilens/pkg/collect"
)

// exportRequestDesc is the schema CheckProto walks an OTLP request with.
var exportRequestDesc = (&coltracepb.ExportTraceServiceRequest{}).ProtoReflect().Descriptor()

// The gRPC server gets each request's bytes undecoded (rawCodec) and bounds
// their nesting before pdata decodes them: a codec's error would reach the
// client as INTERNAL, and pdata's decoder recurses without a depth limit.
func (c *Collector) newGRPCServer() *grpc.Server {
	s := grpc.NewServer(
		grpc.MaxRecvMsgSize(int(c.cfg.MaxRequestBytes)),
		grpc.MaxConcurrentStreams(uint32(c.cfg.MaxConcurrentRequests)),
		grpc.ForceServerCodecV2(rawCodec{}),
	)
	s.RegisterService(&traceServiceDesc, &grpcTraces{c: c})
	return s
}

// rawMessage is a message as it travels on the wire.
type rawMessage struct{ b []byte }

// rawCodec moves rawMessages in and out of gRPC without decoding them.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*rawMessage)
	if !ok {
		return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(m.b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*rawMessage)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	m.b = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

// rawExporter is what traceServiceDesc calls.
type rawExporter interface {
	exportRaw(ctx context.Context, req *rawMessage) (*rawMessage, error)
}

const exportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

// traceServiceDesc is OTLP's TraceService with the request left undecoded.
var traceServiceDesc = grpc.ServiceDesc{
	ServiceName: "opentelemetry.proto.collector.trace.v1.TraceService",
	HandlerType: (*rawExporter)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Export",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := &rawMessage{}
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, req any) (any, error) {
				return srv.(rawExporter).exportRaw(ctx, req.(*rawMessage))
			}
			if interceptor == nil {
				return h(ctx, in)
			}
			return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: exportMethod}, h)
		},
	}},
	Metadata: "opentelemetry/proto/collector/trace/v1/trace_service.proto",
}

// exportRaw bounds, decodes and exports one request.
func (g *grpcTraces) exportRaw(ctx context.Context, in *rawMessage) (*rawMessage, error) {
	if err := collect.CheckProto(in.b, exportRequestDesc, g.c.set.Limits); err != nil {
		g.c.metrics.requests.WithLabelValues("grpc", "bad_data").Inc()
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(in.b); err != nil {
		g.c.metrics.requests.WithLabelValues("grpc", "bad_data").Inc()
		return nil, status.Error(codes.InvalidArgument, "cannot decode OTLP protobuf request: "+err.Error())
	}
	resp, err := g.Export(ctx, req)
	if err != nil {
		return nil, err
	}
	out, err := resp.MarshalProto()
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &rawMessage{b: out}, nil
}

// grpcTraces implements OTLP/gRPC: OK with partial success for invalid
// spans, UNAVAILABLE with RetryInfo when overloaded or stopping (the code
// OTLP clients retry), UNAUTHENTICATED or INVALID_ARGUMENT otherwise.
type grpcTraces struct {
	c *Collector
}

func (g *grpcTraces) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	c := g.c
	resp := ptraceotlp.NewExportResponse()
	if c.stopping.Load() {
		return resp, g.refuse(errStopping)
	}
	if !c.acquire() {
		return resp, g.refuse(errors.New("too many concurrent export requests"))
	}
	defer c.release()
	hr := headerRequest(ctx)
	tenant, err := c.set.Auth.Tenant(hr)
	if err != nil {
		c.metrics.requests.WithLabelValues("grpc", "client_error").Inc()
		var ce *collect.Error
		if errors.As(err, &ce) && ce.Status == http.StatusUnauthorized {
			return resp, status.Error(codes.Unauthenticated, ce.Error())
		}
		return resp, status.Error(codes.InvalidArgument, err.Error())
	}
	env, err := collect.ParseEnvironment(hr.Header.Get("X-Trilens-Env"))
	if err != nil {
		c.metrics.requests.WithLabelValues("grpc", "client_error").Inc()
		return resp, status.Error(codes.InvalidArgument, "x-trilens-env: "+err.Error())
	}
	rejected, reason, err := c.ingest(tenant, env, req.Traces())
	switch {
	case errors.Is(err, errOverloaded), errors.Is(err, errStopping):
		return resp, g.refuse(err)
	case err != nil:
		c.metrics.requests.WithLabelValues("grpc", "error").Inc()
		return resp, status.Error(codes.Internal, err.Error())
	}
	if rejected > 0 {
		resp.PartialSuccess().SetRejectedSpans(int64(rejected))
		resp.PartialSuccess().SetErrorMessage(reason)
		c.metrics.requests.WithLabelValues("grpc", "partial").Inc()
	} else {
		c.metrics.requests.WithLabelValues("grpc", "ok").Inc()
	}
	return resp, nil
}

func (g *grpcTraces) refuse(err error) error {
	g.c.metrics.requests.WithLabelValues("grpc", "refused").Inc()
	st, derr := status.New(codes.Unavailable, err.Error()).
		WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(max(g.c.cfg.RetryAfter, time.Second))})
	if derr != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	return st.Err()
}

// headerRequest presents gRPC metadata as HTTP headers, so tenant auth and
// subject headers work the same on both transports.
func headerRequest(ctx context.Context) *http.Request {
	h := http.Header{}
	md, _ := metadata.FromIncomingContext(ctx)
	for k, vs := range md {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	return &http.Request{Header: h, URL: &url.URL{}}
}
