package trilens

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/natsserver"
	"github.com/trilens/trilens/pkg/server"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/services/alerter"
	"github.com/trilens/trilens/services/changecollector"
	"github.com/trilens/trilens/services/loadcollector"
	"github.com/trilens/trilens/services/sbomcollector"
	"github.com/trilens/trilens/services/scancollector"
	"github.com/trilens/trilens/services/scorer"
	"github.com/trilens/trilens/services/scorer/tracker"
	"github.com/trilens/trilens/services/tracecollector"
	"go.yaml.in/yaml/v3"
)

// Config is the whole process's configuration: each service's own Config
// nested under its name. Later sources win: flag defaults, then the YAML
// file, then flags given on the command line.
type Config struct {
	Target     string                 `yaml:"target"`
	DataDir    string                 `yaml:"data_dir"`
	PolicyFile string                 `yaml:"policy_file"`
	Server     server.Config          `yaml:"server"`
	NATS       natsserver.Config      `yaml:"nats"`
	Bus        bus.Config             `yaml:"bus"`
	Store      store.Config           `yaml:"store"`
	ClickHouse LocalClickHouse        `yaml:"clickhouse"`
	Scorer     scorer.Config          `yaml:"scorer"`
	Alerter    alerter.Config         `yaml:"alerter"`
	Trackers   tracker.Config         `yaml:"trackers"`
	Auth       AuthConfig             `yaml:"auth"`
	Limits     LimitsConfig           `yaml:"limits"`
	Scan       scancollector.Config   `yaml:"scancollector"`
	SBOM       sbomcollector.Config   `yaml:"sbomcollector"`
	Trace      tracecollector.Config  `yaml:"tracecollector"`
	Load       loadcollector.Config   `yaml:"loadcollector"`
	Change     changecollector.Config `yaml:"changecollector"`
	Shutdown   ShutdownConfig         `yaml:"shutdown"`
}

// AuthConfig lists the bearer tokens, each with a tenant and a role, stored
// as SHA-256 digests. Without tokens every route is open and takes the
// tenant from the request, so Trilens then listens on loopback only, unless
// Insecure says that an open service on the network is intended.
type AuthConfig struct {
	Tokens []collect.Token `yaml:"tokens"`
	// OIDC lets people use their identity provider's ID tokens.
	OIDC     collect.OIDCConfig `yaml:"oidc"`
	Insecure bool               `yaml:"insecure"`
	// MetricsToken closes /metrics to all but metrics and system tokens.
	MetricsToken bool `yaml:"metrics_token"`
}

// configured says whether any credential is configured.
func (a AuthConfig) configured() bool { return len(a.Tokens) > 0 || a.OIDC.Enabled() }

// LimitsConfig bounds what one ingest request may make a collector read.
type LimitsConfig struct {
	MaxBodyBytes    int64 `yaml:"max_body_bytes"`
	MaxDecodedBytes int64 `yaml:"max_decoded_bytes"`
}

// collectLimits converts the limits for pkg/collect.
func (l LimitsConfig) collectLimits() collect.Limits {
	return collect.Limits{MaxBodyBytes: l.MaxBodyBytes, MaxDecodedBytes: l.MaxDecodedBytes}
}

// LocalClickHouse says whether `trilens up` may start a private ClickHouse
// when nothing answers at the store's loopback DSN.
type LocalClickHouse struct {
	Start    bool   `yaml:"start"`
	Dir      string `yaml:"dir"`
	HTTPPort int    `yaml:"http_port"`
}

// ShutdownConfig times the graceful shutdown: /ready turns 503 at once, the
// process waits Delay for load balancers to notice, then drains; after three
// quarters of Timeout it stops waiting for the drain.
type ShutdownConfig struct {
	Delay   time.Duration `yaml:"delay"`
	Timeout time.Duration `yaml:"timeout"`
}

// RegisterFlags binds every flag and sets the defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Target, "target", "all", "comma-separated services to run: "+strings.Join(Targets(), ", "))
	fs.StringVar(&c.DataDir, "data.dir", ".run", "directory for the embedded NATS store and the local ClickHouse")
	fs.StringVar(&c.PolicyFile, "policy.file", "trilens.yaml", "budgets-as-code policy; built-in defaults when the file does not exist")
	c.Server.RegisterFlags("server.", fs)
	c.NATS.RegisterFlags("nats.", fs)
	c.Bus.RegisterFlags("bus.", fs)
	c.Store.RegisterFlags("store.", fs)
	fs.BoolVar(&c.ClickHouse.Start, "clickhouse.start", true, "start a private clickhouse-server when nothing answers at a loopback store.dsn")
	fs.StringVar(&c.ClickHouse.Dir, "clickhouse.dir", "", "data directory of the private ClickHouse (default <data.dir>/clickhouse)")
	fs.IntVar(&c.ClickHouse.HTTPPort, "clickhouse.http-port", 18123, "HTTP port of the private ClickHouse (its native port is store.dsn's)")
	c.Scorer.RegisterFlags("scorer.", fs)
	c.Alerter.RegisterFlags("alerter.", fs)
	c.Trackers.RegisterFlags("trackers.", fs)
	c.Scan.RegisterFlags("scancollector.", fs)
	c.SBOM.RegisterFlags("sbomcollector.", fs)
	c.Trace.RegisterFlags("otlp.", fs)
	c.Load.RegisterFlags("loadcollector.", fs)
	c.Change.RegisterFlags("changecollector.", fs)
	fs.Int64Var(&c.Limits.MaxBodyBytes, "limits.max-body-bytes", collect.DefaultLimits.MaxBodyBytes, "largest request body a collector reads, as sent")
	fs.Int64Var(&c.Limits.MaxDecodedBytes, "limits.max-decoded-bytes", collect.DefaultLimits.MaxDecodedBytes, "largest request body after decompression (gzip bombs stop here)")
	fs.StringVar(&c.Auth.OIDC.Issuer, "auth.oidc.issuer", "", "OpenID provider whose ID tokens people may use as bearer tokens")
	fs.StringVar(&c.Auth.OIDC.ClientID, "auth.oidc.client-id", "", "audience the ID tokens must carry")
	fs.StringVar(&c.Auth.OIDC.TenantClaim, "auth.oidc.tenant-claim", "trilens_tenant", "ID token claim naming the tenant")
	fs.StringVar(&c.Auth.OIDC.RoleClaim, "auth.oidc.role-claim", "trilens_role", "ID token claim naming the role (read or admin)")
	fs.BoolVar(&c.Auth.MetricsToken, "auth.metrics-token", false, "require a token with role metrics (or system) on /metrics; otherwise anyone who reaches the port may scrape it (counters of every tenant, no findings)")
	fs.BoolVar(&c.Auth.Insecure, "auth.insecure", false, "allow listening beyond loopback without auth.tokens (every route open to the network: a warning is logged at every start)")
	fs.DurationVar(&c.Shutdown.Delay, "shutdown.delay", 0, "time between /ready turning 503 and the drain starting")
	fs.DurationVar(&c.Shutdown.Timeout, "shutdown.timeout", time.Minute, "bound of the whole shutdown")
}

// Validate checks the whole tree and reports every error with its key path.
func (c *Config) Validate() error {
	var errs []error
	add := func(path string, err error) {
		if err != nil {
			for _, e := range splitJoined(err) {
				errs = append(errs, fmt.Errorf("%s.%v", path, e))
			}
		}
	}
	if _, err := ResolveTargets(c.Target); err != nil {
		errs = append(errs, fmt.Errorf("target: %w", err))
	}
	add("server", c.Server.Validate())
	if c.Bus.URL == "" {
		add("nats", c.NATS.Validate())
	}
	add("bus", c.Bus.Validate())
	add("store", c.Store.Validate())
	add("scorer", c.Scorer.Validate())
	add("alerter", c.Alerter.Validate())
	add("trackers", c.Trackers.Validate())
	add("scancollector", c.Scan.Validate())
	add("sbomcollector", c.SBOM.Validate())
	add("tracecollector", c.Trace.Validate())
	add("loadcollector", c.Load.Validate())
	add("changecollector", c.Change.Validate())
	ids := map[string]bool{}
	for i, tok := range c.Auth.Tokens {
		add(fmt.Sprintf("auth.tokens[%d]", i), tok.Validate())
		if ids[tok.ID] {
			errs = append(errs, fmt.Errorf("auth.tokens[%d].id: %q is used twice", i, tok.ID))
		}
		ids[tok.ID] = true
	}
	add("auth.oidc", c.Auth.OIDC.Validate())
	if c.Auth.MetricsToken && len(c.Auth.Tokens) == 0 {
		errs = append(errs, errors.New("auth.metrics_token: no auth.tokens to scrape /metrics with: add one with role metrics (trilens token new --id prometheus --role metrics)"))
	}
	if !c.Auth.configured() && !c.Auth.Insecure {
		for _, l := range c.listeners() {
			if l.addr != "" && !loopbackHost(l.addr) {
				errs = append(errs, fmt.Errorf("%s: %q is reachable from other machines, and without auth.tokens every route is open: configure tokens, bind to 127.0.0.1, or pass --auth.insecure", l.key, l.addr))
			}
		}
	}
	if c.Shutdown.Timeout <= 0 {
		errs = append(errs, errors.New("shutdown.timeout: must be positive"))
	}
	return errors.Join(errs...)
}

// listener is one address Trilens listens on, with its config key.
type listener struct{ key, addr string }

// listeners are the addresses this configuration opens.
func (c *Config) listeners() []listener {
	return []listener{
		{"server.http_address", c.Server.HTTPAddress},
		{"tracecollector.grpc_address", c.Trace.GRPCAddress},
		{"tracecollector.http_address", c.Trace.HTTPAddress},
	}
}

// loopbackHost says whether a listen address is reachable from this machine
// only. An empty host (":7070") listens on every interface.
func loopbackHost(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// OpenToNetwork lists the listeners that serve every route without a token
// to other machines (only with --auth.insecure): logged at every start.
func (c *Config) OpenToNetwork() []string {
	if c.Auth.configured() {
		return nil
	}
	var open []string
	for _, l := range c.listeners() {
		if l.addr != "" && !loopbackHost(l.addr) {
			open = append(open, l.key+"="+l.addr)
		}
	}
	return open
}

func splitJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// LoadYAML decodes a config file over c; unknown keys are errors, and
// ${VAR} is expanded only when expandEnv is set.
func (c *Config) LoadYAML(path string, expandEnv bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	if expandEnv {
		data = []byte(os.ExpandEnv(string(data)))
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// Redacted is c as YAML with secrets blanked, for -config.print.
func (c Config) Redacted() string {
	c.Store.DSN = redactDSN(c.Store.DSN)
	c.Bus.URL = redactDSN(c.Bus.URL)
	// Tokens are digests already; print them anyway only by holder.
	tokens := make([]collect.Token, len(c.Auth.Tokens))
	for i, t := range c.Auth.Tokens {
		t.SHA256 = "REDACTED"
		tokens[i] = t
	}
	c.Auth.Tokens = tokens
	out, _ := yaml.Marshal(c)
	return string(out)
}

func redactDSN(dsn string) string {
	at := strings.LastIndex(dsn, "@")
	scheme := strings.Index(dsn, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return dsn
	}
	return dsn[:scheme+3] + "REDACTED" + dsn[at:]
}
