package tracecollector

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // OTLP servers must accept gzip
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/trilens/trilens/pkg/collect"
)

func (c *Collector) newGRPCServer() *grpc.Server {
	s := grpc.NewServer(
		grpc.MaxRecvMsgSize(int(c.cfg.MaxRequestBytes)),
		grpc.MaxConcurrentStreams(uint32(c.cfg.MaxConcurrentRequests)),
	)
	ptraceotlp.RegisterGRPCServer(s, &grpcTraces{c: c})
	return s
}

// grpcTraces implements OTLP/gRPC: OK with partial success for invalid
// spans, UNAVAILABLE with RetryInfo when overloaded or stopping (the code
// OTLP clients retry), UNAUTHENTICATED or INVALID_ARGUMENT otherwise.
type grpcTraces struct {
	ptraceotlp.UnimplementedGRPCServer
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
