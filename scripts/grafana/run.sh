#!/usr/bin/env bash
# Runs the Grafana built by build.sh (make grafana) on 127.0.0.1:${GRAFANA_PORT:-3000}
# for a look by hand: admin/admin, the ClickHouse data source pointed at
# ${CLICKHOUSE_HOST:-127.0.0.1}:${CLICKHOUSE_PORT:-9000} database ${CLICKHOUSE_DB:-trilens},
# the committed dashboards and alert rules provisioned from the repository.
# State lives in .cache/grafana/run; Ctrl-C stops it.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
home="$root/.cache/grafana"
[ -x "$home/bin/grafana" ] || { echo "no Grafana in $home: run make grafana first" >&2; exit 2; }
run="$home/run"
mkdir -p "$run"/{data,logs} "$run"/provisioning/{datasources,dashboards,alerting,plugins,notifiers}

# Plugin v1.1.2 names the host "server"; deploy/grafana's data source file is
# written for the current plugin that docker-compose installs.
cat >"$run/provisioning/datasources/clickhouse.yaml" <<YAML
apiVersion: 1
datasources:
  - name: Trilens ClickHouse
    uid: trilens-clickhouse
    type: grafana-clickhouse-datasource
    isDefault: true
    jsonData: {server: ${CLICKHOUSE_HOST:-127.0.0.1}, port: ${CLICKHOUSE_PORT:-9000}, username: ${CLICKHOUSE_USER:-default}, defaultDatabase: ${CLICKHOUSE_DB:-trilens}}
YAML
sed "s|path: /var/lib/grafana/dashboards|path: $root/dashboards|" \
	"$root/deploy/grafana/provisioning/dashboards/trilens.yaml" >"$run/provisioning/dashboards/trilens.yaml"
cp "$root/deploy/grafana/provisioning/alerting/trilens.yaml" "$run/provisioning/alerting/trilens.yaml"

cat >"$run/custom.ini" <<INI
[paths]
data = $run/data
logs = $run/logs
plugins = $home/plugins
provisioning = $run/provisioning
[server]
http_addr = 127.0.0.1
http_port = ${GRAFANA_PORT:-3000}
[security]
admin_user = admin
admin_password = admin
[plugins]
allow_loading_unsigned_plugins = grafana-clickhouse-datasource
[analytics]
reporting_enabled = false
check_for_updates = false
INI
echo "grafana: http://127.0.0.1:${GRAFANA_PORT:-3000} (admin/admin, API only: no web UI is built)"
exec "$home/bin/grafana" server --homepath "$home/src" --config "$run/custom.ini"
