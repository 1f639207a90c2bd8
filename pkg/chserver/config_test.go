package chserver

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A replica's config names its cluster, macros and ZooKeeper; a single
// server's has none of them.
func TestClusterConfig(t *testing.T) {
	type replica struct {
		Host string `xml:"host"`
		Port string `xml:"port"`
	}
	type shard struct {
		InternalReplication bool      `xml:"internal_replication"`
		Replicas            []replica `xml:"replica"`
	}
	var cfg struct {
		Interserver int    `xml:"interserver_http_port"`
		Shard       string `xml:"macros>shard"`
		Replica     string `xml:"macros>replica"`
		ZooKeeper   []struct {
			Host string `xml:"host"`
			Port string `xml:"port"`
		} `xml:"zookeeper>node"`
		Tenants []shard `xml:"remote_servers>trilens_tenants>shard"`
		Cluster []shard `xml:"remote_servers>c1>shard"`
	}
	dir := t.TempDir()
	c := &Cluster{Name: "c1", Shards: [][]string{{"127.0.0.1:9001", "127.0.0.1:9002"}}, Shard: "01", Replica: "r<2>", ZooKeeper: []string{"127.0.0.1:2181"}}
	if err := writeConfig(dir, 9002, 8124, 9010, c); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "config.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if cfg.Interserver != 9010 || cfg.Shard != "01" || cfg.Replica != "r<2>" {
		t.Errorf("interserver %d, macros %q %q", cfg.Interserver, cfg.Shard, cfg.Replica)
	}
	if len(cfg.ZooKeeper) != 1 || cfg.ZooKeeper[0].Host != "127.0.0.1" || cfg.ZooKeeper[0].Port != "2181" {
		t.Errorf("zookeeper %+v", cfg.ZooKeeper)
	}
	if len(cfg.Tenants) != 1 || len(cfg.Cluster) != 1 || !cfg.Cluster[0].InternalReplication ||
		len(cfg.Cluster[0].Replicas) != 2 || cfg.Cluster[0].Replicas[1] != (replica{"127.0.0.1", "9002"}) {
		t.Errorf("remote_servers: tenants %+v, cluster %+v", cfg.Tenants, cfg.Cluster)
	}
	users, err := os.ReadFile(filepath.Join(dir, "users.xml"))
	if err != nil || !strings.Contains(string(users), "<distributed_product_mode>global</distributed_product_mode>") {
		t.Errorf("users.xml of a replica (%v):\n%s", err, users)
	}

	if err := writeConfig(dir, 9002, 8124, 0, nil); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "config.xml"))
	users, _ = os.ReadFile(filepath.Join(dir, "users.xml"))
	for _, s := range []string{"macros", "zookeeper", "interserver", "c1", "{{"} {
		if strings.Contains(string(b), s) || strings.Contains(string(users), s) {
			t.Errorf("single-server config mentions %q:\n%s\n%s", s, b, users)
		}
	}
}
