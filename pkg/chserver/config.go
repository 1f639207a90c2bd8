package chserver

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// configXML is the smallest server config that runs on Debian's 18.16 and on
// current releases (both still read the <yandex> root). Only loopback listens.
const configXML = `<yandex>
  <logger>
    <level>warning</level>
    <log>{{DIR}}/log/server.log</log>
    <errorlog>{{DIR}}/log/err.log</errorlog>
    <console>0</console>
    <size>100M</size>
    <count>3</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>{{TCP}}</tcp_port>
  <http_port>{{HTTP}}</http_port>
  <path>{{DIR}}/data/</path>
  <tmp_path>{{DIR}}/tmp/</tmp_path>
  <mark_cache_size>536870912</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <shutdown_wait_unfinished>2</shutdown_wait_unfinished>
  <!-- The server itself as a one-shard cluster: per-tenant read-only users
       read their rows through Distributed tables over it (pkg/store/tenantusers). -->
  <remote_servers>
    <trilens_tenants>
      <shard><replica><host>127.0.0.1</host><port>{{TCP}}</port><user>default</user></replica></shard>
    </trilens_tenants>{{CLUSTER_SERVERS}}
  </remote_servers>{{CLUSTER}}
</yandex>
`

// usersXML: one passwordless default user reachable from loopback only.
const usersXML = `<yandex>
  <profiles>
    <default>
      <max_memory_usage>4000000000</max_memory_usage>
      <!-- idle connections notice a shutdown only every poll_interval seconds (default 10) -->
      <poll_interval>1</poll_interval>{{PROFILE}}
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks>
        <ip>127.0.0.1</ip>
        <ip>::1</ip>
      </networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration>
        <queries>0</queries>
        <errors>0</errors>
        <result_rows>0</result_rows>
        <read_rows>0</read_rows>
        <execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</yandex>
`

// writeConfig (re)writes config.xml and users.xml into dir for the given
// ports and creates the directories the server expects.
func writeConfig(dir string, tcpPort, httpPort, interserverPort int, c *Cluster) error {
	for _, sub := range []string{"log", "data", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	var esc bytes.Buffer
	if err := xml.EscapeText(&esc, []byte(dir)); err != nil {
		return err
	}
	cfg := strings.NewReplacer(
		"{{DIR}}", esc.String(),
		"{{TCP}}", fmt.Sprint(tcpPort),
		"{{HTTP}}", fmt.Sprint(httpPort),
		"{{CLUSTER_SERVERS}}", c.remoteServers(),
		"{{CLUSTER}}", c.replicaConfig(interserverPort),
	).Replace(configXML)
	if err := os.WriteFile(filepath.Join(dir, "config.xml"), []byte(cfg), 0o644); err != nil {
		return err
	}
	users := strings.ReplaceAll(usersXML, "{{PROFILE}}", c.profile())
	return os.WriteFile(filepath.Join(dir, "users.xml"), []byte(users), 0o644)
}

// Cluster makes the server one replica of a replicated cluster: it lists the
// cluster in remote_servers, sets the {shard} and {replica} macros that
// Replicated*MergeTree paths use, and names the ZooKeeper ensemble.
type Cluster struct {
	// Name is the cluster's name in remote_servers (store.cluster).
	Name string
	// Shards lists each shard's replicas as host:port of their native port.
	Shards [][]string
	// Shard and Replica are this server's macros; Replica is unique in the cluster.
	Shard, Replica string
	// ZooKeeper lists the ensemble's host:port.
	ZooKeeper []string
}

func (c *Cluster) remoteServers() string {
	if c == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n    <%s>", c.Name)
	for _, shard := range c.Shards {
		// internal_replication: a Distributed insert writes one replica and
		// replication copies it, instead of writing every replica itself.
		b.WriteString("\n      <shard><internal_replication>true</internal_replication>")
		for _, r := range shard {
			host, port, _ := strings.Cut(r, ":")
			fmt.Fprintf(&b, "<replica><host>%s</host><port>%s</port><user>default</user></replica>", xmlText(host), xmlText(port))
		}
		b.WriteString("</shard>")
	}
	fmt.Fprintf(&b, "\n    </%s>", c.Name)
	return b.String()
}

func (c *Cluster) replicaConfig(interserverPort int) string {
	if c == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n  <interserver_http_host>127.0.0.1</interserver_http_host>\n  <interserver_http_port>%d</interserver_http_port>", interserverPort)
	fmt.Fprintf(&b, "\n  <macros><shard>%s</shard><replica>%s</replica></macros>", xmlText(c.Shard), xmlText(c.Replica))
	b.WriteString("\n  <zookeeper>")
	for _, z := range c.ZooKeeper {
		host, port, _ := strings.Cut(z, ":")
		fmt.Fprintf(&b, "<node><host>%s</host><port>%s</port></node>", xmlText(host), xmlText(port))
	}
	b.WriteString("</zookeeper>")
	// ON CLUSTER statements go through this queue in ZooKeeper.
	b.WriteString("\n  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>")
	return b.String()
}

// profile: a JOIN or IN of two Distributed tables reads the inner one whole,
// once, and sends it to every shard, correct whatever the tables' sharding
// keys. It is a server setting because 18.16's protocol carries only
// numeric settings from a client.
func (c *Cluster) profile() string {
	if c == nil {
		return ""
	}
	return "\n      <distributed_product_mode>global</distributed_product_mode>"
}

func xmlText(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
