#!/usr/bin/env bash
# Captures real Alertmanager webhook notifications into real/alertmanager/:
# runs Debian's prometheus-alertmanager on loopback with a webhook receiver,
# fires one alert, then resolves it, and stores the two bodies as sent.
set -euo pipefail
cd "$(dirname "$0")"
command -v prometheus-alertmanager >/dev/null || { echo "apt-get install prometheus-alertmanager" >&2; exit 2; }
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
out=real/alertmanager
mkdir -p "$out"

# A receiver that stores each POST body as it arrived.
cat >"$dir/recv.py" <<'PY'
import http.server, sys
n = 0
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global n
        body = self.rfile.read(int(self.headers["Content-Length"]))
        n += 1
        open(f"{sys.argv[2]}/body-{n}.json", "wb").write(body)
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$dir/recv.py" 19095 "$dir" &

cat >"$dir/am.yml" <<'YML'
route:
  receiver: trilens
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: trilens
    webhook_configs:
      - url: http://127.0.0.1:19095/v1/changes
        send_resolved: true
YML
prometheus-alertmanager --config.file="$dir/am.yml" --storage.path="$dir/data" \
	--web.listen-address=127.0.0.1:19093 --cluster.listen-address= >"$dir/am.log" 2>&1 &
for _ in $(seq 50); do curl -fs http://127.0.0.1:19093/-/ready >/dev/null && break; sleep 0.2; done

start=$(date -u +%Y-%m-%dT%H:%M:%SZ)
alert() { # $1: endsAt or empty
	local ends=""
	[ -n "$1" ] && ends=",\"endsAt\":\"$1\""
	curl -fs -XPOST -H 'Content-Type: application/json' http://127.0.0.1:19093/api/v2/alerts -d "[{
	  \"labels\":{\"alertname\":\"CheckoutLatencyHigh\",\"service\":\"checkout-api\",\"severity\":\"critical\",\"environment\":\"production\"},
	  \"annotations\":{\"summary\":\"checkout p95 above 800 ms\"},
	  \"startsAt\":\"$start\"$ends,
	  \"generatorURL\":\"http://prometheus.example:9090/graph?g0.expr=checkout_p95_ms+%3E+800\"}]"
}
alert ""
for _ in $(seq 50); do [ -f "$dir/body-1.json" ] && break; sleep 0.2; done
sleep 1
alert "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
for _ in $(seq 50); do [ -f "$dir/body-2.json" ] && break; sleep 0.2; done
cp "$dir/body-1.json" "$out/firing.json"
cp "$dir/body-2.json" "$out/resolved.json"
prometheus-alertmanager --version 2>&1 | head -1 >"$out/VERSION"
echo "captured $out/firing.json $out/resolved.json" >&2
