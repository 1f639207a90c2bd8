package trilens

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/chserver"
	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/lifecycle"
	"github.com/trilens/trilens/pkg/natsserver"
	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/server"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/services/alerter"
	"github.com/trilens/trilens/services/changecollector"
	"github.com/trilens/trilens/services/loadcollector"
	"github.com/trilens/trilens/services/sbomcollector"
	"github.com/trilens/trilens/services/scancollector"
	"github.com/trilens/trilens/services/scorer"
	"github.com/trilens/trilens/services/scorer/evidence"
	"github.com/trilens/trilens/services/scorer/scorecard"
	"github.com/trilens/trilens/services/scorer/tracker"
	"github.com/trilens/trilens/services/tracecollector"
	"github.com/trilens/trilens/services/trilens/web"
)

// App is one Trilens process: the services its targets need, started in
// order by a lifecycle manager.
type App struct {
	cfg Config
	log *slog.Logger
	reg *prometheus.Registry
	mgr *lifecycle.Manager

	Policy *policy.Policy
	Server *server.Server
	gate   *server.Gate
	auth   *collect.Auth
	api    *server.Routes

	NATS       *natsserver.Server
	ClickHouse *chserver.Server
	Store      *store.Store
	Bus        *bus.Bus
	Scorer     *scorer.Scorer
	Alerter    *alerter.Alerter
	Trackers   *tracker.Syncer
	Trace      *tracecollector.Collector
	// Inbox, when set before Start, is a notification receiver whose
	// notifications the page lists (the demo runs one).
	Inbox *web.Inbox
	// busUp is Bus once it is up, for the page's requests, which may come
	// while the bus module is still starting.
	busUp atomic.Pointer[bus.Bus]
}

// NewApp builds the services cfg asks for; Start starts them.
func NewApp(cfg Config, log *slog.Logger) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pol, err := loadPolicy(cfg.PolicyFile)
	if err != nil {
		return nil, err
	}
	policyDoc, err := os.ReadFile(cfg.PolicyFile)
	if errors.Is(err, os.ErrNotExist) {
		policyDoc, err = []byte("version: 1\n"), nil // the built-in defaults
	}
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log, reg: prometheus.NewRegistry(), Policy: pol, gate: &server.Gate{}, api: server.NewRoutes()}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	names, err := cfg.services()
	if err != nil {
		return nil, err
	}
	a.auth = collect.NewAuth(cfg.Auth.Tokens)
	if cfg.Auth.OIDC.Enabled() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := a.auth.EnableOIDC(ctx, cfg.Auth.OIDC)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	if open := cfg.OpenToNetwork(); len(open) > 0 {
		log.Warn("auth.insecure: no auth.tokens, and these listeners are reachable from other machines: anyone who reaches them may read and change every tenant's data",
			"listeners", open)
	}
	a.Server = server.New(cfg.Server, log, a.reg, a.Ready)
	if cfg.Auth.MetricsToken {
		a.Server.GuardMetrics(a.auth.GuardMetrics)
	}
	a.Server.Mux.Handle("/v1/", a.gate.Wrap(a.auth.Guard(a.api)))
	a.api.HandleFunc("GET /v1/policy", servePolicy(policyDoc))
	var svcs []lifecycle.Service
	for _, name := range names {
		svcs = append(svcs, a.module(name))
	}
	a.mgr = lifecycle.NewManager(log, svcs...)
	a.Server.HandleServices(a.mgr.States)
	return a, nil
}

// servePolicy answers the policy this process scores with, so a CI gate
// can use it (trilens gate --policy=server) instead of the checkout's copy,
// which the pull request under test could have loosened.
func servePolicy(doc []byte) http.HandlerFunc {
	sum := sha256.Sum256(doc)
	digest := hex.EncodeToString(sum[:])
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Header().Set("X-Trilens-Policy-SHA256", digest)
		_, _ = w.Write(doc)
	}
}

// loadPolicy reads the policy file, or the defaults when it does not exist.
func loadPolicy(path string) (*policy.Policy, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return policy.Default(), nil
	}
	return policy.Load(path)
}

func (a *App) module(name string) lifecycle.Service {
	switch name {
	case modServer:
		return a.Server
	case modNATS:
		return module{name: name,
			start: func(context.Context) error {
				cfg := a.cfg.NATS
				if !filepath.IsAbs(cfg.StoreDir) && a.cfg.DataDir != "" && cfg.StoreDir == ".run/nats" {
					cfg.StoreDir = filepath.Join(a.cfg.DataDir, "nats")
				}
				s, err := natsserver.Start(cfg)
				a.NATS = s
				return err
			},
			stop:  func(context.Context) error { a.NATS.Shutdown(); return nil },
			ready: func(context.Context) error { return a.NATS.Healthz() },
		}
	case modClickHouse:
		return module{name: name, start: a.startLocalClickHouse,
			stop: func(ctx context.Context) error {
				if a.ClickHouse == nil {
					return nil
				}
				return a.ClickHouse.Stop(ctx)
			}}
	case modStore:
		return module{name: name,
			start: func(ctx context.Context) error {
				s, err := store.Open(ctx, a.cfg.Store)
				if err != nil {
					return err
				}
				a.Store = s
				if err := s.Migrate(ctx); err != nil {
					return err
				}
				s.StartRetention(a.cfg.Store.Retention, time.Hour, a.log.With("service", "retention"))
				a.registerPage(s)
				return nil
			},
			stop: func(context.Context) error {
				if a.Store == nil {
					return nil
				}
				return a.Store.Close()
			},
			ready: func(ctx context.Context) error { return a.Store.Ping(ctx) },
		}
	case modBus:
		return module{name: name,
			start: func(ctx context.Context) error {
				var err error
				if a.cfg.Bus.URL == "" {
					a.Bus, err = a.NATS.Bus(ctx, a.cfg.Bus, a.log)
				} else if a.Bus, err = bus.Connect(ctx, a.cfg.Bus, a.log); err == nil && a.cfg.Bus.Provision {
					err = a.Bus.Provision(ctx)
				}
				if err == nil {
					a.busUp.Store(a.Bus)
				}
				return err
			},
			stop: func(context.Context) error {
				if a.Bus == nil {
					return nil
				}
				return a.Bus.Close()
			},
			ready: func(ctx context.Context) error { return a.Bus.Ready(ctx) },
		}
	case modScorer:
		return module{name: name,
			start: func(ctx context.Context) error {
				cfg := a.cfg.Scorer
				if cfg.DocumentRetention == 0 {
					// Documents follow the evidence they belong to.
					cfg.DocumentRetention = time.Duration(a.cfg.Store.Retention["evidence_log"])
				}
				s, err := scorer.New(cfg, scorer.Settings{Logger: a.log.With("service", name), Bus: a.Bus, Store: a.Store, Policy: a.Policy, Registerer: a.reg})
				if err != nil {
					return err
				}
				a.Scorer = s
				s.Register(a.api)
				return s.Start(ctx)
			},
			stop: func(ctx context.Context) error {
				if a.Scorer == nil {
					return nil
				}
				return a.Scorer.Stop(ctx)
			},
		}
	case modIngest:
		return a.gate
	case modAlerter:
		return module{name: name,
			start: func(ctx context.Context) error {
				al, err := alerter.New(a.cfg.Alerter, alerter.Settings{Logger: a.log.With("service", name), Bus: a.Bus, Policy: a.Policy, Registerer: a.reg})
				if err != nil {
					return err
				}
				a.Alerter = al
				if err := al.Start(ctx); err != nil {
					return err
				}
				return a.startTrackers(ctx)
			},
			stop: func(ctx context.Context) error {
				var errs []error
				if a.Trackers != nil {
					errs = append(errs, a.Trackers.Stop(ctx))
				}
				if a.Alerter != nil {
					errs = append(errs, a.Alerter.Stop(ctx))
				}
				return errors.Join(errs...)
			},
		}
	case modScan:
		return a.httpCollector(name, func(set collect.Settings) (routes, error) { return scancollector.New(a.cfg.Scan, set) })
	case modSBOM:
		return a.httpCollector(name, func(set collect.Settings) (routes, error) {
			cfg := a.cfg.SBOM
			cfg.Verify.Signers = a.Policy.Security.Signers
			return sbomcollector.New(cfg, set)
		})
	case modLoad:
		return a.httpCollector(name, func(set collect.Settings) (routes, error) { return loadcollector.New(a.cfg.Load, set) })
	case modChange:
		return module{name: name, start: func(context.Context) error {
			c, err := changecollector.New(a.cfg.Change, a.collectSettings(name))
			if err != nil {
				return err
			}
			// Outside the bearer-token guard: GitHub and GitLab cannot send a
			// token, so the collector authenticates each request itself (token,
			// or the named tenant's webhook signature), behind the ingest gate.
			a.Server.Mux.Handle("POST /v1/changes", a.gate.Wrap(c))
			return nil
		}}
	case modTrace:
		var c *tracecollector.Collector
		return module{name: name,
			start: func(ctx context.Context) error {
				cfg := a.cfg.Trace
				cfg.Policy = a.Policy
				var err error
				if c, err = tracecollector.New(cfg, a.collectSettings(name)); err != nil {
					return err
				}
				a.Trace = c
				c.Register(a.api)
				return c.Start(ctx)
			},
			stop: func(ctx context.Context) error {
				if c == nil {
					return nil
				}
				return c.Stop(ctx)
			},
			ready: func(ctx context.Context) error {
				if c == nil {
					return nil
				}
				return c.Ready(ctx)
			},
		}
	}
	panic("no module " + name)
}

// startTrackers starts the issue tracker sync beside the alerter: both
// tell people about gaps outside Trilens, so they share the alerter's
// deployment (its egress to the outside, its NATS and ClickHouse access);
// the sync is periodic rather than a consumer, and a JetStream lease lets
// one alerter replica sync at a time. It builds a scorecard of its own over
// the store, so it needs no scorer in the process.
func (a *App) startTrackers(ctx context.Context) error {
	set := evidence.Settings{Logger: a.log.With("service", "trackers"), Store: a.Store, Policy: a.Policy, Now: time.Now}
	s, err := tracker.New(a.cfg.Trackers, tracker.Settings{Logger: set.Logger, Store: a.Store, Policy: a.Policy, Bus: a.Bus,
		Card: scorecard.New(set), Registerer: a.reg})
	if err != nil {
		return err
	}
	a.Trackers = s
	return s.Start(ctx)
}

// registerPage mounts the built-in page's views, for machines without
// Grafana. They show tenants' data, so each sits behind the read role.
func (a *App) registerPage(s *store.Store) {
	page := web.New(web.Sources{Store: s, Policy: a.Policy, Bus: a.busUp.Load, Inbox: a.Inbox,
		Log: a.log.With("service", "web")})
	read := func(h http.Handler) http.Handler { return a.auth.GuardAs(collect.RoleRead, h) }
	a.Server.Mux.Handle("GET /{$}", read(page.Scorecard()))
	a.Server.Mux.Handle("GET /service", read(page.Service()))
	a.Server.Mux.Handle("GET /service/{name}", read(page.Service()))
	a.Server.Mux.Handle("GET /findings", read(page.Findings()))
	a.Server.Mux.Handle("GET /ledger", read(page.Ledger()))
}

// routes is what an HTTP collector offers the runner.
type routes interface{ Register(server.Router) }

// httpCollector is a collector that only serves routes under /v1/: the
// ingest gate in front of them stops its input and waits for its requests.
func (a *App) httpCollector(name string, build func(collect.Settings) (routes, error)) lifecycle.Service {
	return module{name: name, start: func(context.Context) error {
		c, err := build(a.collectSettings(name))
		if err != nil {
			return err
		}
		c.Register(a.api)
		return nil
	}}
}

func (a *App) collectSettings(name string) collect.Settings {
	return collect.Settings{
		Logger:     a.log.With("service", name),
		Publisher:  a.Bus,
		Registerer: a.reg,
		Auth:       a.auth,
		Limits:     a.cfg.Limits.collectLimits(),
	}
}

// startLocalClickHouse starts a private clickhouse-server on the DSN's port
// when nothing answers there, keeping its data under the data directory.
func (a *App) startLocalClickHouse(ctx context.Context) error {
	host, port := dsnHostPort(a.cfg.Store.DSN)
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(host, fmt.Sprint(port)), time.Second); err == nil {
		_ = c.Close()
		a.log.Info("using the ClickHouse already listening", "dsn", redactDSN(a.cfg.Store.DSN))
		return nil
	}
	dir := a.cfg.ClickHouse.Dir
	if dir == "" {
		dir = filepath.Join(a.cfg.DataDir, "clickhouse")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	a.log.Info("starting a private ClickHouse", "dir", abs, "port", port)
	s, err := chserver.Start(ctx, chserver.Options{Dir: abs, TCPPort: port, HTTPPort: a.cfg.ClickHouse.HTTPPort, Logger: a.log})
	if err != nil {
		return err
	}
	a.ClickHouse = s
	return nil
}

// Start starts every service in order.
func (a *App) Start(ctx context.Context) error { return a.mgr.Start(ctx) }

// Ready reports whether every service is up.
func (a *App) Ready(ctx context.Context) error { return a.mgr.Ready(ctx) }

// API is the mux behind /v1/, for collectors and the scorer's API.
func (a *App) API() *server.Routes { return a.api }

// Stop shuts down gracefully: /ready turns 503 at once, the process waits
// the shutdown delay, then stops the services in reverse order. After three
// quarters of the shutdown timeout it stops waiting for the drain.
func (a *App) Stop(ctx context.Context) error {
	a.mgr.SetStopping()
	if d := a.cfg.Shutdown.Delay; d > 0 {
		a.log.Info("shutdown delay", "delay", d)
		time.Sleep(d)
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Shutdown.Timeout*3/4)
	defer cancel()
	return a.mgr.Stop(ctx)
}

// Run starts the app, blocks until ctx ends, then stops it.
func (a *App) Run(ctx context.Context) error {
	if err := a.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	a.log.Info("shutting down")
	return a.Stop(context.Background())
}

// StoreTCPPort is the native port of the ClickHouse the store uses.
func (a *App) StoreTCPPort() int {
	_, port := dsnHostPort(a.cfg.Store.DSN)
	return port
}

// Scored reports whether the scorer has acknowledged every evidence message
// so far: all their rows and everything its processors derive are stored.
func (a *App) Scored(ctx context.Context) (bool, error) {
	c, err := a.Bus.JetStream().Consumer(ctx, bus.StreamEvidence, a.cfg.Scorer.Durable)
	if err != nil {
		return false, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return false, err
	}
	return info.NumPending == 0 && info.NumAckPending == 0 && info.NumRedelivered == 0, nil
}
