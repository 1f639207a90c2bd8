#!/usr/bin/env bash
# Regenerates testdata/sboms with the real syft CLI (installed by make deps)
# from the projects in testdata/projects, and records syft's own package count
# per project (the length of `artifacts` in its syft JSON) in counts.json.
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd ../../.. && pwd)"
syft="$root/.bin/syft"
[ -x "$syft" ] || syft="$(command -v syft)" || { echo "syft missing: run make deps" >&2; exit 1; }
out=sboms
mkdir -p "$out"
for p in gomod npm; do
	# --source-name keeps the absolute checkout path out of the documents.
	"$syft" scan "dir:projects/$p" --source-name "$p" -q \
		-o "syft-json=$out/$p.syft.json" \
		-o "cyclonedx-json@1.5=$out/$p.cyclonedx-1.5.json" \
		-o "cyclonedx-json@1.6=$out/$p.cyclonedx-1.6.json" \
		-o "spdx-json@2.3=$out/$p.spdx-2.3.json"
done
rm -f "$out/gomod.cyclonedx-1.6.json" "$out/gomod.spdx-2.3.json" "$out/npm.cyclonedx-1.5.json"
printf '{"gomod": %s, "npm": %s}\n' \
	"$(jq '.artifacts | length' "$out/gomod.syft.json")" \
	"$(jq '.artifacts | length' "$out/npm.syft.json")" >"$out/counts.json"
