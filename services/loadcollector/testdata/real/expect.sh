#!/usr/bin/env bash
# Computes expected.json from the real files with jq, independently of the
# collector's Go code: what each report says, metric by metric, with null
# where the report does not give the metric. Run from this directory after
# adding a file:  ./expect.sh > expected.json
set -euo pipefail
cd "$(dirname "$0")"

lighthouse() {
	jq -c --arg file "$1" '
	  def num: if type == "number" then . else null end;
	  def m(a): (.audits[a] // {}) | ((.numericValue | num) // (.rawValue | num));
	  def vitals(step): {
	    step: step,
	    version: .lighthouseVersion,
	    url: (.finalDisplayedUrl // .finalUrl // .requestedUrl),
	    form_factor: (.configSettings.formFactor // .configSettings.emulatedFormFactor // ""),
	    lcp_ms: m("largest-contentful-paint"),
	    cls: m("cumulative-layout-shift"),
	    tbt_ms: m("total-blocking-time"),
	    inp_ms: (m("interaction-to-next-paint") // m("experimental-interaction-to-next-paint")),
	    ttfb_ms: (m("server-response-time") // m("time-to-first-byte")),
	    fcp_ms: m("first-contentful-paint"),
	    speed_index_ms: m("speed-index"),
	    performance_score: (.categories.performance.score | num)
	  };
	  {file: $file, kind: "lighthouse",
	   runs: (if .steps then
	       [.steps[] | select(.lhr.runtimeError == null and (.lhr.gatherMode == "navigation" or .lhr.gatherMode == "timespan")) | .name as $n | .lhr | vitals($n)]
	     else [vitals("")] end)}'
}

k6() {
	jq -c --arg file "$1" '
	  def v(metric; key): (.metrics[metric] // null) | if . == null then null elif .values then .values[key] else .[key] end;
	  def thresholds: [.metrics[] | .thresholds // {} | to_entries[] | if (.value | type) == "object" then .value.ok else (.value | not) end];
	  {file: $file, kind: "k6",
	   format: (if .state then "k6-handle-summary" else "k6-summary-export" end),
	   requests: v("http_reqs"; "count"),
	   p50_ms: (v("http_req_duration"; "med") // v("http_req_duration"; "p(50)")),
	   p95_ms: v("http_req_duration"; "p(95)"),
	   p99_ms: v("http_req_duration"; "p(99)"),
	   failed_rate: (v("http_req_failed"; "rate") // v("http_req_failed"; "value")),
	   iterations: v("iterations"; "count"),
	   thresholds: (thresholds | length),
	   thresholds_failed: (thresholds | map(select(. == false)) | length)}'
}

{
	for f in lighthouse/*.json lighthouse/*.json.gz; do
		if [[ $f == *.gz ]]; then gzip -dc "$f" | lighthouse "$f"; else lighthouse "$f" < "$f"; fi
	done
	for f in k6/*.json; do k6 "$f" < "$f"; done
} | jq -s '.'
