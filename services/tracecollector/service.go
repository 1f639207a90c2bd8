package tracecollector

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc"

	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/server"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

// Collector is the OTLP trace receiver. It runs its own listeners (OTLP/gRPC
// and OTLP/HTTP), so it is a lifecycle.Service the runner starts and stops.
type Collector struct {
	cfg     Config
	set     collect.Settings
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics
	rules   *rules
	conv    converter
	pipe    *pipeline
	out     outbox
	// requests bounds the requests being decoded at once.
	requests chan struct{}
	spanPool sync.Pool

	httpSrv  *http.Server
	grpcSrv  *grpc.Server
	httpLn   net.Listener
	grpcLn   net.Listener
	started  atomic.Bool
	stopping atomic.Bool
	stopOnce sync.Once
	stopErr  error
	cancel   context.CancelFunc
	flushWG  sync.WaitGroup
	serveWG  sync.WaitGroup
}

// New builds a collector; Start opens its listeners.
func New(cfg Config, set collect.Settings) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Publisher == nil {
		return nil, errors.New("tracecollector: Settings.Publisher is required")
	}
	if set.Logger == nil {
		set.Logger = slog.Default()
	}
	if set.Now == nil {
		set.Now = time.Now
	}
	// OTLP bodies are decoded whole, so they get a much smaller bound than reports.
	set.Limits = collect.Limits{MaxBodyBytes: cfg.MaxRequestBytes, MaxDecodedBytes: cfg.MaxRequestBytes, MaxDepth: cfg.MaxDepth}
	if cfg.InstanceID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		cfg.InstanceID = hex.EncodeToString(b[:])
	}
	env, _ := parseEnv(cfg.Environment)
	c := &Collector{
		cfg: cfg, set: set, log: set.Logger.With("service", "tracecollector"), now: set.Now,
		requests: make(chan struct{}, cfg.MaxConcurrentRequests),
	}
	c.rules = newRules(cfg.Policy)
	c.conv = converter{rules: c.rules, defaultEnv: env}
	c.pipe = newPipeline(&c.cfg, c.rules, set.Now, nil)
	c.metrics = newMetrics(set.Registerer, func() float64 { return float64(c.pipe.queued.Load()) })
	c.pipe.metrics = c.metrics
	c.out.c = c
	return c, nil
}

// Name implements lifecycle.Service.
func (c *Collector) Name() string { return "tracecollector" }

// Register mounts OTLP/HTTP traces on the runner's server too, so a single
// port can take everything.
func (c *Collector) Register(mux server.Router) {
	mux.Handle("POST /v1/traces", http.HandlerFunc(c.serveHTTP))
}

// wrapTLS puts TLS on the listeners when a certificate is configured; gRPC
// needs HTTP/2 negotiated by ALPN.
func (c *Collector) wrapTLS() error {
	if c.cfg.TLSCertFile == "" {
		return nil
	}
	for _, l := range []struct {
		ln    *net.Listener
		proto string
	}{{&c.httpLn, "http/1.1"}, {&c.grpcLn, "h2"}} {
		if *l.ln == nil {
			continue
		}
		tc, err := server.TLSConfig(c.cfg.TLSCertFile, c.cfg.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("tracecollector: %w", err)
		}
		tc.NextProtos = []string{l.proto}
		*l.ln = tls.NewListener(*l.ln, tc)
	}
	return nil
}

// Start opens the listeners and starts the assembling and flushing
// goroutines; it returns at once.
func (c *Collector) Start(context.Context) error {
	if c.cfg.HTTPAddress != "" {
		ln, err := net.Listen("tcp", c.cfg.HTTPAddress)
		if err != nil {
			return fmt.Errorf("tracecollector: OTLP/HTTP listen: %w", err)
		}
		c.httpLn = ln
	}
	if c.cfg.GRPCAddress != "" {
		ln, err := net.Listen("tcp", c.cfg.GRPCAddress)
		if err != nil {
			if c.httpLn != nil {
				_ = c.httpLn.Close()
			}
			return fmt.Errorf("tracecollector: OTLP/gRPC listen: %w", err)
		}
		c.grpcLn = ln
	}
	if err := c.wrapTLS(); err != nil {
		for _, ln := range []net.Listener{c.httpLn, c.grpcLn} {
			if ln != nil {
				_ = ln.Close()
			}
		}
		return err
	}
	c.pipe.start()
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.flushWG.Add(1)
	go c.flushLoop(ctx)
	if c.httpLn != nil {
		mux := http.NewServeMux()
		c.Register(mux)
		c.httpSrv = &http.Server{Handler: server.StallGuard(mux, 30*time.Second), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
		c.serveWG.Add(1)
		go func() {
			defer c.serveWG.Done()
			if err := c.httpSrv.Serve(c.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				c.log.Error("OTLP/HTTP server failed", "err", err)
			}
		}()
	}
	if c.grpcLn != nil {
		c.grpcSrv = c.newGRPCServer()
		c.serveWG.Add(1)
		go func() {
			defer c.serveWG.Done()
			if err := c.grpcSrv.Serve(c.grpcLn); err != nil {
				c.log.Error("OTLP/gRPC server failed", "err", err)
			}
		}()
	}
	c.started.Store(true)
	c.log.Info("OTLP receivers listening", "http", c.HTTPAddr(), "grpc", c.GRPCAddr())
	return nil
}

// HTTPAddr is the bound OTLP/HTTP address ("" when not listening).
func (c *Collector) HTTPAddr() string {
	if c.httpLn == nil {
		return ""
	}
	return c.httpLn.Addr().String()
}

// GRPCAddr is the bound OTLP/gRPC address ("" when not listening).
func (c *Collector) GRPCAddr() string {
	if c.grpcLn == nil {
		return ""
	}
	return c.grpcLn.Addr().String()
}

// Ready implements lifecycle.Checker.
func (c *Collector) Ready(context.Context) error {
	switch {
	case !c.started.Load():
		return errors.New("tracecollector: not started")
	case c.stopping.Load():
		return errStopping
	}
	return nil
}

// Stop refuses new requests, lets those in flight finish, analyses every
// buffered trace, and publishes all open windows: nothing accepted is lost
// on a graceful shutdown. Safe without Start and safe twice.
func (c *Collector) Stop(ctx context.Context) error {
	c.stopOnce.Do(func() {
		c.stopping.Store(true)
		if !c.started.Load() {
			return
		}
		if c.httpSrv != nil {
			if err := c.httpSrv.Shutdown(ctx); err != nil {
				c.log.Warn("OTLP/HTTP shutdown", "err", err)
			}
		}
		if c.grpcSrv != nil {
			done := make(chan struct{})
			go func() { c.grpcSrv.GracefulStop(); close(done) }()
			select {
			case <-done:
			case <-ctx.Done():
				c.grpcSrv.Stop()
				<-done
			}
		}
		c.serveWG.Wait()
		c.cancel()
		c.flushWG.Wait()
		evs := buildEvents(c.pipe.close(), c.rules, c.cfg.InstanceID)
		if err := c.out.send(ctx, evs); err != nil {
			c.stopErr = fmt.Errorf("tracecollector: publishing the last windows: %w", err)
		}
	})
	return c.stopErr
}

// flushLoop publishes windows once they are closed: their end plus the lateness has passed.
func (c *Collector) flushLoop(ctx context.Context) {
	defer c.flushWG.Done()
	t := time.NewTicker(c.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			cutoff := c.now().Add(-c.cfg.Lateness).UnixNano()
			evs := buildEvents(c.pipe.collect(cutoff), c.rules, c.cfg.InstanceID)
			if err := c.out.send(ctx, evs); err != nil && ctx.Err() == nil {
				c.log.Warn("publishing trace windows failed; will retry", "err", err, "pending", len(c.out.pending))
			}
		}
	}
}

// ingest converts one request's spans and queues them. It returns the
// number of spans rejected as invalid and why (OTLP partial success).
func (c *Collector) ingest(tenant string, env eventv1.Environment, td ptrace.Traces) (int, string, error) {
	buf, _ := c.spanPool.Get().(*[]span)
	if buf == nil {
		buf = new([]span)
	}
	conv := c.conv
	if env != eventv1.Environment_ENVIRONMENT_UNSPECIFIED {
		conv.defaultEnv = env
	}
	spans, rejected, reason := conv.convert(td, (*buf)[:0])
	err := c.pipe.submit(tenant, spans)
	clear(spans) // drop string references before pooling
	*buf = spans[:0]
	c.spanPool.Put(buf)
	if err != nil {
		c.metrics.spans.WithLabelValues("refused").Add(float64(len(spans) + rejected))
		return 0, "", err
	}
	c.metrics.spans.WithLabelValues("accepted").Add(float64(len(spans)))
	if rejected > 0 {
		c.metrics.spans.WithLabelValues("rejected").Add(float64(rejected))
	}
	return rejected, reason, nil
}

// acquire takes a request slot without waiting: a full house is overload.
func (c *Collector) acquire() bool {
	select {
	case c.requests <- struct{}{}:
		return true
	default:
		return false
	}
}

func (c *Collector) release() { <-c.requests }
