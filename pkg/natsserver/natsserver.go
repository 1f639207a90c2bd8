// Package natsserver runs NATS with JetStream inside the Trilens process: the
// single-machine default (`trilens up`) and every test use it.
package natsserver

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/trilens/trilens/pkg/bus"
)

// Config of the embedded server.
type Config struct {
	// Listen is host:port for outside clients; "" serves in-process clients only.
	Listen string `yaml:"listen"`
	// StoreDir holds JetStream's files; they survive a restart.
	StoreDir string `yaml:"store_dir"`
	// MaxPayload bounds one message; events stay far below it (claim check).
	MaxPayload int32 `yaml:"max_payload"`
	// MaxStore bounds JetStream's files. The streams reserve their bounds
	// against it when they are created (the evidence stream 8 GiB), so
	// nats-server's own default, 75% of the disk's free space at start, would
	// refuse to start Trilens on a disk with a few GiB free; a disk that fills
	// first refuses publishes with the disk's error instead. 0 keeps
	// nats-server's default.
	MaxStore int64 `yaml:"max_store"`
}

// DefaultMaxStore is the embedded server's JetStream bound: room for every
// stream's reservation, whatever the disk had free when it started.
const DefaultMaxStore = 64 << 30

// RegisterFlags sets the defaults and binds the flags under prefix.
func (c *Config) RegisterFlags(prefix string, fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, prefix+"listen", "127.0.0.1:4222", "address outside NATS clients connect to; empty serves in-process clients only")
	fs.StringVar(&c.StoreDir, prefix+"store-dir", ".run/nats", "directory of JetStream's files")
	fs.Int64Var(&c.MaxStore, prefix+"max-store", DefaultMaxStore,
		"bytes JetStream may store (the streams' bounds must fit in it); 0: 75% of the disk's free space at start, as nats-server decides")
	c.MaxPayload = 1 << 20
}

// Validate reports a bad listen address.
func (c *Config) Validate() error {
	if c.Listen == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen %q: %w", c.Listen, err)
	}
	if c.StoreDir == "" {
		return errors.New("store_dir: must not be empty")
	}
	return nil
}

// Server is a running embedded NATS server.
type Server struct {
	ns *server.Server
}

// Start runs the server and waits until it accepts connections. It leaves
// signals to the caller (NoSigs): our runner owns them.
func Start(cfg Config) (*Server, error) {
	opts := &server.Options{
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
		NoLog:      true,
		MaxPayload: cfg.MaxPayload,
		ServerName: "trilens",
		// 0 leaves JetStreamMaxStore unset: nats-server's default.
		JetStreamMaxStore: cfg.MaxStore,
	}
	if cfg.Listen == "" {
		opts.DontListen = true
	} else {
		host, port, err := splitListen(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("nats listen: %w", err)
		}
		opts.Host, opts.Port = host, port
	}
	return run(opts, cfg.Listen)
}

// Node is one server of a NATS cluster run in process, as tests and tools
// start it; production clusters run nats-server itself (deploy/kubernetes).
type Node struct {
	// Name identifies the server; JetStream keeps its data under it, so a
	// restarted node must keep its name and store directory.
	Name     string
	StoreDir string
	// Listen and ClusterListen are host:port for clients and routes; port -1
	// picks a free one.
	Listen        string
	ClusterListen string
	// Cluster is the cluster's name, the same on every node.
	Cluster string
	// Routes are the route addresses (host:port) of other nodes; each node
	// learns the rest from them.
	Routes []string
	// Tags are the server tags stream placement selects on.
	Tags []string
	// MaxStore is Config.MaxStore of this node.
	MaxStore int64
}

// StartNode runs one clustered JetStream server and waits until it accepts
// client connections (the JetStream cluster may still be forming).
func StartNode(n Node) (*Server, error) {
	opts := &server.Options{
		JetStream:         true,
		StoreDir:          n.StoreDir,
		NoSigs:            true,
		NoLog:             true,
		MaxPayload:        1 << 20,
		ServerName:        n.Name,
		JetStreamMaxStore: n.MaxStore,
	}
	var err error
	if opts.Host, opts.Port, err = splitListen(n.Listen); err != nil {
		return nil, fmt.Errorf("nats node %s listen: %w", n.Name, err)
	}
	opts.Cluster.Name = n.Cluster
	if opts.Cluster.Host, opts.Cluster.Port, err = splitListen(n.ClusterListen); err != nil {
		return nil, fmt.Errorf("nats node %s cluster listen: %w", n.Name, err)
	}
	for _, r := range n.Routes {
		opts.Routes = append(opts.Routes, &url.URL{Scheme: "nats-route", Host: r})
	}
	opts.Tags.Add(n.Tags...)
	return run(opts, n.Listen)
}

func splitListen(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%q: %w", addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return "", 0, fmt.Errorf("%q: port: %w", addr, err)
	}
	return host, p, nil
}

func run(opts *server.Options, listen string) (*Server, error) {
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("nats server on %q not ready after 30s (store dir %s)", listen, opts.StoreDir)
	}
	return &Server{ns: ns}, nil
}

// Name is the server's name.
func (s *Server) Name() string { return s.ns.Name() }

// ClusterAddr is the address other nodes route to; "" when not clustered.
func (s *Server) ClusterAddr() string {
	if a := s.ns.ClusterAddr(); a != nil {
		return a.String()
	}
	return ""
}

// ClusterPeers lists the JetStream servers the meta leader sees online; it
// is empty on every other server.
func (s *Server) ClusterPeers() []string { return s.ns.JetStreamClusterPeers() }

// ClientURL is the address outside clients use; "" when not listening.
func (s *Server) ClientURL() string {
	if s.ns.Addr() == nil {
		return ""
	}
	return s.ns.ClientURL()
}

// Connect opens a client connection in process, without the network.
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	return nats.Connect("", append([]nats.Option{nats.InProcessServer(s.ns), nats.Name("trilens-inprocess")}, opts...)...)
}

// Healthz reports JetStream's health as NATS's own /healthz does.
func (s *Server) Healthz() error {
	if st := s.ns.Healthz(nil); st.Error != "" {
		return errors.New(st.Error)
	}
	return nil
}

// Shutdown stops the server and waits until it is down; safe twice.
func (s *Server) Shutdown() {
	if s == nil || s.ns == nil {
		return
	}
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// Bus connects a bus to the server in process and provisions its streams.
func (s *Server) Bus(ctx context.Context, cfg bus.Config, log *slog.Logger) (*bus.Bus, error) {
	nc, err := s.Connect()
	if err != nil {
		return nil, err
	}
	b, err := bus.New(nc, cfg, log)
	if err != nil {
		return nil, err
	}
	if err := b.Provision(ctx); err != nil {
		_ = b.Close()
		return nil, err
	}
	return b, nil
}

// StartTemp runs a server with JetStream in a new temporary directory, for
// tools such as the benchmarks, and returns a provisioned bus on it; stop
// closes the bus, shuts the server down and removes the directory.
func StartTemp(ctx context.Context, log *slog.Logger) (b *bus.Bus, stop func(), err error) {
	dir, err := os.MkdirTemp("", "trilens-nats-")
	if err != nil {
		return nil, nil, err
	}
	srv, err := Start(Config{StoreDir: dir, MaxPayload: 1 << 20})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	if b, err = srv.Bus(ctx, bus.DefaultConfig(), log); err != nil {
		srv.Shutdown()
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	return b, func() { _ = b.Close(); srv.Shutdown(); _ = os.RemoveAll(dir) }, nil
}
