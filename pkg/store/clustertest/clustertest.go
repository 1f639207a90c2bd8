// Package clustertest gives tests a replicated ClickHouse: a private
// ZooKeeper (Debian's zookeeperd jars, a generated zoo.cfg on a free loopback
// port and a temp dataDir; never the system service) and clickhouse-server
// replicas of one shard that list each other in remote_servers.
//
//	c := clustertest.Start(t, 2)
//	st := c.Store(t, 0) // store.cluster = c.Name, on replica 0
package clustertest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/trilens/trilens/pkg/chserver"
	"github.com/trilens/trilens/pkg/store"
)

// Name is the cluster's name in remote_servers.
const Name = "trilens_cluster"

// zookeeperJar is where Debian's zookeeper package puts the server
// (scripts/deps.d/50-zookeeper.sh installs it).
var zookeeperJar = "/usr/share/java/zookeeper.jar"

// Cluster is one shard of replicas sharing a ZooKeeper.
type Cluster struct {
	Name      string
	ZooKeeper string
	Replicas  []*chserver.Server
	database  string
}

// StartZooKeeper runs a standalone ZooKeeper on a free loopback port until
// the test ends and returns its host:port once it serves sessions.
func StartZooKeeper(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(zookeeperJar); err != nil {
		t.Fatalf("zookeeper: %v (run scripts/deps.d/50-zookeeper.sh)", err)
	}
	dir := t.TempDir()
	port := freePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cfg := fmt.Sprintf(`tickTime=500
initLimit=10
syncLimit=5
dataDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=srvr
maxClientCnxns=0
`, filepath.Join(dir, "data"), port)
	if err := os.WriteFile(filepath.Join(dir, "zoo.cfg"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(dir, "zookeeper.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command("java", "-Xmx256m", "-cp", zookeeperJar,
		"org.apache.zookeeper.server.ZooKeeperServerMain", filepath.Join(dir, "zoo.cfg"))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start zookeeper: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(60 * time.Second)
	for !serving(addr) {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "zookeeper.log"))
			t.Fatalf("zookeeper on %s did not answer in 60s:\n%s", addr, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return addr
}

// serving asks ZooKeeper for its status: "ruok" answers before the server
// takes sessions, "srvr" names its mode only once it does.
func serving(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("srvr")); err != nil {
		return false
	}
	out, _ := io.ReadAll(c)
	return bytes.Contains(out, []byte("Mode: standalone"))
}

// Start runs ZooKeeper and n clickhouse-server replicas of one shard, each
// listing all of them as cluster Name, and stops them when the test ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{Name: Name, ZooKeeper: StartZooKeeper(t), database: fmt.Sprintf("cluster_%d", time.Now().UnixNano()%1e9)}
	ports := make([]int, n)
	shard := make([]string, n)
	for i := range ports {
		ports[i] = freePort(t)
		shard[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i]))
	}
	ctx := context.Background()
	for i := range n {
		s, err := chserver.Start(ctx, chserver.Options{
			TCPPort:      ports[i],
			StartTimeout: 2 * time.Minute,
			StopTimeout:  10 * time.Second,
			Cluster: &chserver.Cluster{
				Name:      c.Name,
				Shards:    [][]string{shard},
				Shard:     "01",
				Replica:   fmt.Sprintf("replica%d", i+1),
				ZooKeeper: []string{c.ZooKeeper},
			},
		})
		if err != nil {
			t.Fatalf("replica %d: %v", i+1, err)
		}
		t.Cleanup(func() { s.Close(context.Background()) })
		for attempt := 1; !zooKeeperReady(t, s); attempt++ {
			if attempt == 3 {
				t.Fatalf("replica %d has no ZooKeeper session after %d starts", i+1, attempt)
			}
			if err := s.Restart(ctx); err != nil {
				t.Fatalf("restart replica %d: %v", i+1, err)
			}
		}
		c.Replicas = append(c.Replicas, s)
	}
	return c
}

// Config is the store config of replica i: the cluster's database on it,
// with store.cluster set.
func (c *Cluster) Config(i int) store.Config {
	return store.Config{DSN: c.Replicas[i].DSN(), Database: c.database, Cluster: c.Name, MaxOpenConns: 4}
}

// Store opens the cluster's database through replica i (not migrated).
func (c *Cluster) Store(t testing.TB, i int, rec *store.Recorder) *store.Store {
	t.Helper()
	cfg := c.Config(i)
	cfg.Recorder = rec
	return c.open(t, i, cfg)
}

// StoreIn opens database db (created on every replica when missing)
// through replica i.
func (c *Cluster) StoreIn(t testing.TB, i int, db string) *store.Store {
	t.Helper()
	cfg := c.Config(i)
	cfg.Database = db
	return c.open(t, i, cfg)
}

func (c *Cluster) open(t testing.TB, i int, cfg store.Config) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), cfg)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(c.Replicas[i].Dir(), "log", "err.log"))
		t.Fatalf("open store on replica %d: %v\nits error log:\n%s", i+1, err, tail(log, 4000))
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// zooKeeperReady waits for the replica to read ZooKeeper and reports whether
// its first connection, made at start, worked: when it fails, 18.16's DDL
// worker is left without a session and the server crashes on the first ON
// CLUSTER statement, so the caller restarts it.
func zooKeeperReady(t testing.TB, s *chserver.Server) bool {
	t.Helper()
	errLog := filepath.Join(s.Dir(), "log", "err.log")
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{fmt.Sprintf("127.0.0.1:%d", s.TCPPort())}, MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var n uint64
		if err := conn.QueryRow(context.Background(), "SELECT count() FROM system.zookeeper WHERE path = '/'").Scan(&n); err != nil {
			continue
		}
		log, _ := os.ReadFile(errLog)
		if bytes.Contains(log, []byte("DDLWorker::run()")) {
			os.Rename(errLog, errLog+".failed") // the next start's log starts empty
			return false
		}
		return true
	}
	return false
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
