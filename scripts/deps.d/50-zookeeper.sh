#!/usr/bin/env bash
# Debian's ZooKeeper for the replicated-ClickHouse tests (store.cluster): the
# tests start it privately (pkg/store/clustertest: a generated zoo.cfg on a free
# loopback port and a temp dataDir); the system service is never used.
# Does nothing when the jars are present.
set -euo pipefail
SUDO="${SUDO-}"

[ -f /usr/share/java/zookeeper.jar ] && command -v java >/dev/null && exit 0

echo "deps(zookeeper): installing zookeeperd" >&2
export DEBIAN_FRONTEND=noninteractive
# Keep the package's postinst from starting the system service.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod 755 /usr/sbin/policy-rc.d
	trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y --no-install-recommends zookeeperd </dev/null >/dev/null ||
	{ $SUDO apt-get update </dev/null >/dev/null && $SUDO apt-get install -y --no-install-recommends zookeeperd </dev/null >/dev/null; }

[ -f /usr/share/java/zookeeper.jar ] || { echo "deps(zookeeper): /usr/share/java/zookeeper.jar still missing" >&2; exit 1; }
command -v java >/dev/null || { echo "deps(zookeeper): java missing" >&2; exit 1; }
