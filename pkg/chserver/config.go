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
    </trilens_tenants>
  </remote_servers>
</yandex>
`

// usersXML: one passwordless default user reachable from loopback only.
const usersXML = `<yandex>
  <profiles>
    <default>
      <max_memory_usage>4000000000</max_memory_usage>
      <!-- idle connections notice a shutdown only every poll_interval seconds (default 10) -->
      <poll_interval>1</poll_interval>
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
func writeConfig(dir string, tcpPort, httpPort int) error {
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
	).Replace(configXML)
	if err := os.WriteFile(filepath.Join(dir, "config.xml"), []byte(cfg), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "users.xml"), []byte(usersXML), 0o644)
}
