// Package tracecollector receives OTLP traces (gRPC and HTTP), assembles
// them into traces, and publishes per-window journey and hop latency and
// the problems found in the spans (N+1 queries, serial calls, synchronous
// third-party calls, slow statements) as Trilens events.
package tracecollector

import (
	"errors"
	"flag"
	"fmt"
	"runtime"
	"time"

	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/policy"
)

// Config is the trace collector's configuration.
type Config struct {
	// GRPCAddress and HTTPAddress are where OTLP/gRPC and OTLP/HTTP listen.
	GRPCAddress string `yaml:"grpc_address"`
	HTTPAddress string `yaml:"http_address"`
	// TLSCertFile and TLSKeyFile, when set, serve both OTLP listeners over
	// TLS with that PEM pair, reloaded when the files change.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// DecisionWait is how long a trace must be quiet before it is analysed:
	// the spans of one trace arrive from several services at different times
	// (an SDK's batch processor waits up to 5 s before it exports).
	DecisionWait time.Duration `yaml:"decision_wait"`
	// MaxTraceAge analyses a trace that keeps receiving spans after this long.
	MaxTraceAge time.Duration `yaml:"max_trace_age"`
	// Lateness is how long after its end a window waits for its last traces.
	Lateness time.Duration `yaml:"lateness"`
	// FlushInterval is how often closed windows are published.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// MaxRequestBytes bounds one request body, compressed and decompressed.
	MaxRequestBytes int64 `yaml:"max_request_bytes"`
	// MaxDepth bounds how deeply messages (protobuf) or objects and arrays
	// (JSON) may nest in a request; deeper requests get 400 / INVALID_ARGUMENT
	// before the OTLP decoder, which recurses once per level, sees them.
	MaxDepth int `yaml:"max_depth"`
	// MaxConcurrentRequests bounds the requests decoded at once; more are refused.
	MaxConcurrentRequests int `yaml:"max_concurrent_requests"`
	// MaxQueuedSpans bounds spans accepted but not yet buffered in a trace;
	// past it requests are refused with 429 / UNAVAILABLE and Retry-After.
	MaxQueuedSpans int `yaml:"max_queued_spans"`
	// MaxBufferedSpans bounds the spans held while traces assemble (about
	// 300 bytes each), split evenly over the shards; past it the oldest
	// traces are analysed early.
	MaxBufferedSpans int `yaml:"max_buffered_spans"`
	// MaxSpansPerTrace drops the spans of a trace past this many.
	MaxSpansPerTrace int `yaml:"max_spans_per_trace"`
	// RetryAfter is the delay suggested to refused clients.
	RetryAfter time.Duration `yaml:"retry_after"`
	// Shards is the number of assembling goroutines (0: one per CPU).
	Shards int `yaml:"shards"`
	// Environment applies to spans whose resource has no recognised
	// deployment.environment(.name): production, staging or ci.
	Environment string `yaml:"environment"`
	// InstanceID tells this replica's windows apart from other replicas' in
	// event ids (default: random at start).
	InstanceID string `yaml:"instance_id"`
	// Policy gives journeys, hop rules, third-party hosts, detection
	// thresholds and the window width (detections.window); nil means
	// policy.Default(). The runner sets it from trilens.yaml.
	Policy *policy.Policy `yaml:"-"`
}

// RegisterFlags sets the defaults and registers the flags under prefix.
func (c *Config) RegisterFlags(prefix string, fs *flag.FlagSet) {
	fs.StringVar(&c.GRPCAddress, prefix+"grpc-address", "127.0.0.1:4317", "OTLP/gRPC listen address")
	fs.StringVar(&c.HTTPAddress, prefix+"http-address", "127.0.0.1:4318", "OTLP/HTTP listen address")
	fs.StringVar(&c.TLSCertFile, prefix+"tls-cert-file", "", "PEM certificate to serve OTLP (gRPC and HTTP) over TLS; reloaded when it changes")
	fs.StringVar(&c.TLSKeyFile, prefix+"tls-key-file", "", "PEM private key of tls-cert-file")
	fs.DurationVar(&c.DecisionWait, prefix+"decision-wait", 10*time.Second, "quiet time after which a trace is analysed")
	fs.DurationVar(&c.MaxTraceAge, prefix+"max-trace-age", time.Minute, "analyse a trace at this age even if spans keep arriving")
	fs.DurationVar(&c.Lateness, prefix+"lateness", 90*time.Second, "how long a window waits after its end for late traces")
	fs.DurationVar(&c.FlushInterval, prefix+"flush-interval", time.Second, "how often closed windows are published")
	fs.Int64Var(&c.MaxRequestBytes, prefix+"max-request-bytes", 32<<20, "largest request body, compressed or not")
	fs.IntVar(&c.MaxDepth, prefix+"max-depth", collect.DefaultMaxDepth, "deepest nesting of a request (protobuf messages, JSON objects and arrays)")
	fs.IntVar(&c.MaxConcurrentRequests, prefix+"max-concurrent-requests", 32, "requests decoded at once; more are refused")
	fs.IntVar(&c.MaxQueuedSpans, prefix+"max-queued-spans", 100_000, "spans waiting for a shard; more are refused")
	fs.IntVar(&c.MaxBufferedSpans, prefix+"max-buffered-spans", 500_000, "spans held while traces assemble; past it the oldest traces are analysed early")
	fs.IntVar(&c.MaxSpansPerTrace, prefix+"max-spans-per-trace", 10_000, "spans kept per trace")
	fs.DurationVar(&c.RetryAfter, prefix+"retry-after", time.Second, "delay suggested to refused clients")
	fs.IntVar(&c.Shards, prefix+"shards", 0, "assembling goroutines (0: one per CPU)")
	fs.StringVar(&c.Environment, prefix+"environment", "production", "environment of spans that do not name one")
	fs.StringVar(&c.InstanceID, prefix+"instance-id", "", "replica id in event ids (default random)")
}

// DefaultConfig is the configuration the flags default to.
func DefaultConfig() Config {
	var c Config
	c.RegisterFlags("", flag.NewFlagSet("", flag.ContinueOnError))
	return c
}

// Validate reports every invalid setting.
func (c *Config) Validate() error {
	var errs []error
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %v", name, d))
		}
	}
	positive("decision_wait", c.DecisionWait)
	positive("max_trace_age", c.MaxTraceAge)
	positive("flush_interval", c.FlushInterval)
	positive("retry_after", c.RetryAfter)
	if c.Lateness < 0 {
		errs = append(errs, fmt.Errorf("lateness: must not be negative, got %v", c.Lateness))
	}
	for name, v := range map[string]int64{
		"max_request_bytes": c.MaxRequestBytes, "max_concurrent_requests": int64(c.MaxConcurrentRequests),
		"max_queued_spans": int64(c.MaxQueuedSpans), "max_buffered_spans": int64(c.MaxBufferedSpans),
		"max_spans_per_trace": int64(c.MaxSpansPerTrace), "max_depth": int64(c.MaxDepth),
	} {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %d", name, v))
		}
	}
	if c.Shards < 0 {
		errs = append(errs, fmt.Errorf("shards: must not be negative, got %d", c.Shards))
	}
	if _, ok := parseEnv(c.Environment); !ok {
		errs = append(errs, fmt.Errorf("environment: want production, staging or ci, got %q", c.Environment))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("tls_cert_file, tls_key_file: give both or neither"))
	}
	if c.GRPCAddress == "" && c.HTTPAddress == "" {
		errs = append(errs, errors.New("grpc_address, http_address: at least one listener is needed"))
	}
	return errors.Join(errs...)
}

func (c *Config) shards() int {
	if c.Shards > 0 {
		return c.Shards
	}
	return runtime.GOMAXPROCS(0)
}
