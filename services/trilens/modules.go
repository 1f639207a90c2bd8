package trilens

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Module names. Services run in startOrder: what others depend on first,
// sources last; shutdown runs the other way (collectors stop taking input,
// then the scorer drains, then the bus and NATS close, the HTTP server last).
const (
	modServer     = "server"
	modNATS       = "nats"
	modClickHouse = "clickhouse"
	modStore      = "store"
	modBus        = "bus"
	modScorer     = "scorer"
	modIngest     = "ingest"
	modAlerter    = "alerter"
	modScan       = "scancollector"
	modSBOM       = "sbomcollector"
	modLoad       = "loadcollector"
	modTrace      = "tracecollector"
	modChange     = "changecollector"
)

var startOrder = []string{modServer, modNATS, modClickHouse, modStore, modBus, modScorer, modAlerter, modIngest, modScan, modSBOM, modLoad, modTrace, modChange}

// dependencies of each runnable target; nats and clickhouse are added by
// ResolveTargets only when the configuration asks for embedded servers.
var dependencies = map[string][]string{
	modScorer: {modServer, modStore, modBus},
	// The alerter also runs the issue tracker sync, which reads the
	// scorecard and the ledger from the store.
	modAlerter: {modServer, modBus, modStore},
	modScan:    {modServer, modBus, modIngest},
	modSBOM:    {modServer, modBus, modIngest},
	modLoad:    {modServer, modBus, modIngest},
	modTrace:   {modServer, modBus},
	modChange:  {modServer, modBus, modIngest},
}

// Targets lists the names -target accepts.
func Targets() []string {
	names := []string{"all"}
	for name := range dependencies {
		names = append(names, name)
	}
	slices.Sort(names[1:])
	return names
}

// ResolveTargets expands a comma-separated target list into the services to
// run, in start order, without the embedded servers.
func ResolveTargets(target string) ([]string, error) {
	want := map[string]bool{}
	for _, t := range strings.Split(target, ",") {
		t = strings.TrimSpace(t)
		if t == "all" {
			for name := range dependencies {
				want[name] = true
			}
			continue
		}
		if _, ok := dependencies[t]; !ok {
			return nil, fmt.Errorf("unknown target %q: want one or more of %s", t, strings.Join(Targets(), ", "))
		}
		want[t] = true
	}
	for name := range want {
		for _, d := range dependencies[name] {
			want[d] = true
		}
	}
	var out []string
	for _, name := range startOrder {
		if want[name] {
			out = append(out, name)
		}
	}
	return out, nil
}

// services is the full start list for cfg: the targets plus the embedded
// NATS server when no bus URL is given, and the local ClickHouse when the
// store needs one.
func (c *Config) services() ([]string, error) {
	names, err := ResolveTargets(c.Target)
	if err != nil {
		return nil, err
	}
	extra := map[string]bool{}
	if slices.Contains(names, modBus) && c.Bus.URL == "" {
		extra[modNATS] = true
	}
	if slices.Contains(names, modStore) && c.ClickHouse.Start && loopbackDSN(c.Store.DSN) {
		extra[modClickHouse] = true
	}
	var out []string
	for _, name := range startOrder {
		if slices.Contains(names, name) || extra[name] {
			out = append(out, name)
		}
	}
	return out, nil
}

// loopbackDSN tells whether a DSN points at this machine, where we may start
// a private server ourselves.
func loopbackDSN(dsn string) bool {
	host, _ := dsnHostPort(dsn)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func dsnHostPort(dsn string) (string, int) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", 0
	}
	host, port, err := net.SplitHostPort(strings.Split(u.Host, ",")[0])
	if err != nil {
		return u.Host, 9000
	}
	p, _ := strconv.Atoi(port)
	return host, p
}

// module adapts a piece of the App to lifecycle.Service and Checker.
type module struct {
	name  string
	start func(context.Context) error
	stop  func(context.Context) error
	ready func(context.Context) error
}

func (m module) Name() string { return m.name }

func (m module) Start(ctx context.Context) error {
	if m.start == nil {
		return nil
	}
	return m.start(ctx)
}

func (m module) Stop(ctx context.Context) error {
	if m.stop == nil {
		return nil
	}
	return m.stop(ctx)
}

func (m module) Ready(ctx context.Context) error {
	if m.ready == nil {
		return nil
	}
	return m.ready(ctx)
}
