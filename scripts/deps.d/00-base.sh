#!/usr/bin/env bash
# Base system packages: Debian's clickhouse-server and clickhouse-client (tests
# and `trilens up` start a private server from the binary; the system service
# is never used), and ca-certificates, without which Go cannot fetch modules
# over HTTPS on a minimal system. The proto toolchain is Go-built (make tools),
# not a system package. Does nothing when all are present.
set -euo pipefail
SUDO="${SUDO-}"

missing=()
command -v clickhouse-server >/dev/null || [ -x /usr/sbin/clickhouse-server ] || missing+=(clickhouse-server)
command -v clickhouse-client >/dev/null || missing+=(clickhouse-client)
[ -s /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps(base): installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Keep the package's postinst from starting the system service (containers
# have no init to start it with); we run our own server.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod 755 /usr/sbin/policy-rc.d
	trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get update </dev/null
$SUDO apt-get install -y --no-install-recommends "${missing[@]}" </dev/null

command -v clickhouse-client >/dev/null || { echo "deps(base): clickhouse-client still missing after apt-get install" >&2; exit 1; }
command -v clickhouse-server >/dev/null || [ -x /usr/sbin/clickhouse-server ] ||
	{ echo "deps(base): clickhouse-server still missing after apt-get install" >&2; exit 1; }
