#!/usr/bin/env bash
# Builds a real Grafana (API only, no frontend) and the ClickHouse data source
# plugin's backend from their Go modules, for `make test-grafana`. Everything
# lands under .cache/grafana (gitignored); nothing of Grafana is committed.
# Cold, this takes 30-45 minutes on two cores, so it runs at nice 19 and is
# skipped when the pinned versions are already built.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cache="$root/.cache/grafana"

# Grafana 10.0 pre-release; its go.mod is the last one before the module moved
# to a workspace that `go mod download` cannot build from.
GRAFANA_MODULE=github.com/grafana/grafana
GRAFANA_VERSION=v1.9.2-0.20230609164553-81d85ce8028d
CH_MODULE=github.com/grafana/clickhouse-datasource
CH_VERSION=v1.1.2
WIRE_VERSION=v0.6.0
# wire loads Grafana's packages with go/packages; the x/tools wire pins cannot
# read the export data of current Go toolchains, so wire is rebuilt against this.
XTOOLS_VERSION=v0.52.0

stamp="$GRAFANA_VERSION $CH_VERSION $WIRE_VERSION $XTOOLS_VERSION"
if [ -x "$cache/bin/grafana" ] && [ -x "$cache/plugins/grafana-clickhouse-datasource/gpx_clickhouse_linux_amd64" ] &&
	[ "$(cat "$cache/stamp" 2>/dev/null)" = "$stamp" ]; then
	echo "grafana: $GRAFANA_VERSION already built in $cache"
	exit 0
fi

# The repository's go.work must not capture the builds below.
export GOWORK=off GOFLAGS=-buildvcs=false
# The plugin module is not in the checksum database.
export GONOSUMDB="$CH_MODULE"
nice="nice -n 19"
mkdir -p "$cache/bin"

src_of() { # module@version -> its directory in the module cache
	go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'
}

if [ ! -f "$cache/src/.copied-$GRAFANA_VERSION" ]; then
	echo "grafana: downloading $GRAFANA_MODULE@$GRAFANA_VERSION"
	dir="$(src_of "$GRAFANA_MODULE@$GRAFANA_VERSION")"
	rm -rf "$cache/src"
	cp -r "$dir" "$cache/src"
	chmod -R u+w "$cache/src"
	touch "$cache/src/.copied-$GRAFANA_VERSION"
fi

if [ ! -x "$cache/bin/wire" ]; then
	echo "grafana: building wire $WIRE_VERSION against x/tools $XTOOLS_VERSION"
	w="$cache/wire-build"
	rm -rf "$w" && mkdir -p "$w"
	(cd "$w" && go mod init wirebuild >/dev/null 2>&1 &&
		go get "github.com/google/wire/cmd/wire@$WIRE_VERSION" "golang.org/x/tools@$XTOOLS_VERSION" >/dev/null &&
		$nice go build -o "$cache/bin/wire" github.com/google/wire/cmd/wire)
fi

cd "$cache/src"
echo "grafana: downloading Grafana's dependencies"
go mod download
if [ ! -f pkg/server/wire_gen.go ]; then
	echo "grafana: generating pkg/server/wire_gen.go"
	$nice "$cache/bin/wire" gen -tags oss ./pkg/server
fi
echo "grafana: building the server (the long part)"
$nice go build -tags oss -o "$cache/bin/grafana" ./pkg/cmd/grafana

echo "grafana: building the ClickHouse data source plugin $CH_VERSION"
pdir="$(src_of "$CH_MODULE@$CH_VERSION")"
plugin="$cache/plugins/grafana-clickhouse-datasource"
mkdir -p "$plugin"
(cd "$pdir" && $nice go build -o "$plugin/gpx_clickhouse_linux_amd64" ./pkg)
cp "$pdir/src/plugin.json" "$plugin/plugin.json"
chmod u+w "$plugin/plugin.json"

echo "$stamp" >"$cache/stamp"
echo "grafana: built $cache/bin/grafana"
