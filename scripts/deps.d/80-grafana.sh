#!/usr/bin/env bash
# Dashboards and the built-in page: Debian's Chromium, which the page test
# (services/trilens/web) runs headless to read the DOM and take a screenshot.
# The real Grafana is not built here: `make grafana` does, opt-in.
set -euo pipefail
if ! command -v chromium >/dev/null; then
	echo "deps(grafana): installing chromium"
	apt-get install -y chromium >/dev/null || { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; }
fi
