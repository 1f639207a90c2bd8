#!/usr/bin/env bash
# Prometheus (Debian's package): services/trilens/e2e runs it on loopback to
# evaluate deploy/prometheus/trilens-rules.yaml against the scorer's /metrics.
set -euo pipefail
SUDO="${SUDO-}"
if ! command -v prometheus >/dev/null; then
	echo "deps(prometheus): installing prometheus"
	$SUDO apt-get install -y --no-install-recommends prometheus >/dev/null || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends prometheus >/dev/null; }
fi
