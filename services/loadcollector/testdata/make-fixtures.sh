#!/usr/bin/env bash
# Regenerates the load-lens fixtures with the real tools (k6, Lighthouse +
# Chromium, installed here by scripts/deps.d/60-load.sh with
# LOAD_FIXTURE_TOOLS=1) against cmd/loadtarget on loopback. Timings differ run to run: after regenerating, run the package
# tests with -update to refresh the golden files, and check the knee test.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
k6="$root/.bin/k6"
lh="$root/.cache/lighthouse/node_modules/.bin/lighthouse"
LOAD_FIXTURE_TOOLS=1 "$root/scripts/deps.d/60-load.sh"
export K6_NO_USAGE_REPORT=true

bin="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$bin"' EXIT
(cd "$here/.." && go build -o "$bin/loadtarget" ./cmd/loadtarget)

# target ARGS... starts loadtarget on a free loopback port and sets TARGET.
target() {
	[ -n "${tpid:-}" ] && { kill "$tpid"; wait "$tpid" 2>/dev/null || true; }
	"$bin/loadtarget" "$@" >"$bin/addr" &
	tpid=$!
	for _ in $(seq 50); do [ -s "$bin/addr" ] && break; sleep 0.1; done
	TARGET="$(cut -d' ' -f1 "$bin/addr")"
	export TARGET
}

cd "$here/k6"
# 1. Mixed run: two scenarios, failing thresholds; the same run in all three k6 formats.
target -workers 4 -delay 10ms -fail-every 20
SUMMARY_OUT=mixed-handle-summary.json "$k6" run --quiet --no-color \
	--summary-export=mixed-summary-export.json --out json=mixed.ndjson mixed.js || true
gzip -9nf mixed.ndjson

# 2. Stepped run: capacity 4 workers / 40 ms = 100 req/s.
target -workers 4 -delay 40ms
"$k6" run --quiet --no-color --summary-export=stepped-summary-export.json \
	--out json=stepped.ndjson stepped.js || true
gzip -9nf stepped.ndjson

# 3. Regression series: the same steady test, five baseline runs at 20 ms,
# one within noise (20 ms) and one slower (30 ms).
for i in 1 2 3 4 5; do
	target -workers 4 -delay 20ms
	"$k6" run --quiet --no-color --summary-export="steady-base-$i.json" steady.js
done
target -workers 4 -delay 20ms
"$k6" run --quiet --no-color --summary-export=steady-same.json steady.js
target -workers 4 -delay 30ms
"$k6" run --quiet --no-color --summary-export=steady-slower.json steady.js

# 4. Lighthouse: three runs of /page (the median run is chosen by the collector).
target -workers 4 -delay 10ms
cd "$here/lighthouse"
for i in 1 2 3; do
	ud="$(mktemp -d)"
	CHROME_PATH="$(command -v chromium)" "$lh" "$TARGET/page" --quiet --output=json \
		--output-path="run$i.json" --only-categories=performance \
		--chrome-flags="--headless --no-sandbox --disable-gpu --disable-background-networking --user-data-dir=$ud"
	rm -rf "$ud"
done
# 5. Three Lighthouse user flows (timespan mode: click Pay, INP). The script
# runs from the Lighthouse install so that its imports resolve.
cp flow.mjs "$root/.cache/lighthouse/flow-run.mjs"
for i in 1 2 3; do
	CHROME_PATH="$(command -v chromium)" node "$root/.cache/lighthouse/flow-run.mjs" "$TARGET/page" "$PWD/flow$i.json"
done
rm "$root/.cache/lighthouse/flow-run.mjs"
