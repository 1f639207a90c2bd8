package natstest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/natsserver"
)

// ClusterTag is the server tag every node of a test cluster carries.
const ClusterTag = "trilens"

// Cluster is a NATS cluster with JetStream run in process on loopback, each
// node with its own store directory.
type Cluster struct {
	t     testing.TB
	mu    sync.Mutex
	nodes []natsserver.Node
	srv   []*natsserver.Server
}

// StartCluster starts n clustered servers (routes on loopback, free ports,
// store directories in t.TempDir()), waits until the JetStream meta leader
// sees every one of them, and shuts them down when the test ends. Node i is
// named "n<i>" and tagged ClusterTag and "node:n<i>".
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{t: t, srv: make([]*natsserver.Server, n)}
	// TempDir first: cleanups run last-registered first, so the nodes stop
	// before their store directories are removed (a node still writing made
	// the removal fail with "directory not empty").
	dir := t.TempDir()
	t.Cleanup(c.shutdown)
	// JetStream refuses to cluster without a configured route, and a port the
	// server picks is known only once it runs, so the first node routes to
	// itself on a port reserved by bind-and-close (nats-server ignores a
	// route to itself); every other node picks its own ports and routes to
	// the nodes before it, and gossip completes the mesh.
	routes := []string{freeAddr(t)}
	for i := range n {
		name := fmt.Sprintf("n%d", i)
		listen := "127.0.0.1:-1"
		if i == 0 {
			listen = routes[0]
		}
		node := natsserver.Node{
			Name:          name,
			StoreDir:      filepath.Join(dir, name),
			Listen:        "127.0.0.1:-1",
			ClusterListen: listen,
			Routes:        slices.Clone(routes),
			Cluster:       "trilens-test",
			Tags:          []string{ClusterTag, "node:" + name},
			MaxStore:      natsserver.DefaultMaxStore,
		}
		s, err := natsserver.StartNode(node)
		if err != nil {
			t.Fatalf("start nats node %s: %v", name, err)
		}
		// A restart must come back on the same addresses: the other nodes route to them.
		node.Listen = strings.TrimPrefix(s.ClientURL(), "nats://")
		node.ClusterListen = s.ClusterAddr()
		c.nodes, c.srv[i] = append(c.nodes, node), s
		if i > 0 {
			routes = append(routes, node.ClusterListen)
		}
	}
	c.WaitFormed()
	return c
}

// Len is the number of nodes.
func (c *Cluster) Len() int { return len(c.nodes) }

// Name is node i's server name.
func (c *Cluster) Name(i int) string { return c.nodes[i].Name }

// Index is the node named name, or -1.
func (c *Cluster) Index(name string) int {
	return slices.IndexFunc(c.nodes, func(n natsserver.Node) bool { return n.Name == name })
}

// URLs lists every node's client URL starting with node first, comma
// separated as nats.Connect takes them.
func (c *Cluster) URLs(first int) string {
	var urls []string
	for i := range c.nodes {
		urls = append(urls, "nats://"+c.nodes[(first+i)%len(c.nodes)].Listen)
	}
	return strings.Join(urls, ",")
}

// Shutdown stops node i and waits until it is down, as a crash of its
// process would leave it (the files stay).
func (c *Cluster) Shutdown(i int) {
	c.t.Helper()
	c.mu.Lock()
	s := c.srv[i]
	c.srv[i] = nil
	c.mu.Unlock()
	if s == nil {
		c.t.Fatalf("node %s is not running", c.nodes[i].Name)
	}
	s.Shutdown()
}

// Restart starts node i again with its name, addresses and store directory,
// routing to every other node, and waits until the cluster has formed again.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	node := c.nodes[i]
	node.Routes = nil
	for j, other := range c.nodes {
		if j != i {
			node.Routes = append(node.Routes, other.ClusterListen)
		}
	}
	s, err := natsserver.StartNode(node)
	if err != nil {
		c.t.Fatalf("restart nats node %s: %v", node.Name, err)
	}
	c.mu.Lock()
	c.srv[i] = s
	c.mu.Unlock()
	c.WaitFormed()
}

// WaitFormed waits until a running node leads the JetStream meta group and
// sees every node online.
func (c *Cluster) WaitFormed() {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.mu.Lock()
		var peers []string
		for _, s := range c.srv {
			if s != nil && len(s.ClusterPeers()) > len(peers) {
				peers = s.ClusterPeers()
			}
		}
		c.mu.Unlock()
		if len(peers) == len(c.nodes) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("nats cluster not formed after 30s: meta leader sees %v of %d nodes", peers, len(c.nodes))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Bus connects a bus to the cluster, trying node first, and provisions the
// streams with cfg (Replicas and placement as the test asks). The client
// reconnects to the other nodes when its node goes down.
func (c *Cluster) Bus(first int, cfg bus.Config) *bus.Bus {
	c.t.Helper()
	cfg.URL = c.URLs(first)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Connect(ctx, cfg, slog.New(slog.DiscardHandler), nats.DontRandomize(), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = b.Close() })
	if err := b.Provision(ctx); err != nil {
		c.t.Fatalf("provision on the cluster: %v", err)
	}
	return b
}

func (c *Cluster) shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.srv {
		s.Shutdown()
		c.srv[i] = nil
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
