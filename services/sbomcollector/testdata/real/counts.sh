#!/bin/sh
# Writes counts.json: the components each SBOM in sboms/ lists, computed from
# the files themselves (jq and awk), never typed by hand.
#   CycloneDX: every component at any depth (components nest), except
#     components of type "file" and what they contain: a file is evidence,
#     not a dependency.
#   SPDX: every package except those the document DESCRIBES (the artifact
#     itself), via documentDescribes or a DESCRIBES relationship from
#     SPDXRef-DOCUMENT.
# Run from this directory: sh counts.sh
set -eu
cd "$(dirname "$0")"
cdx='def comps: select(.type != "file") | 1, (.components[]? | comps); [.components[]? | comps] | length'
spdx='([.documentDescribes[]?] + [.relationships[]? | select(.spdxElementId == "SPDXRef-DOCUMENT" and .relationshipType == "DESCRIBES") | .relatedSpdxElement]) as $d
  | [.packages[]? | select(.SPDXID as $id | $d | index($id) | not)] | length'
{
  echo "{"
  sep=""
  for f in sboms/*; do
    name=$(basename "$f")
    case "$name" in
    *.cdx-*.json.gz) n=$(gzip -dc "$f" | jq "$cdx") ;;
    *.cdx-*.json) n=$(jq "$cdx" "$f") ;;
    *.spdx-*.json) n=$(jq "$spdx" "$f") ;;
    *.spdx)
      n=$(awk '
        /^PackageName:/ { pkgs++; inpkg = 1; next }
        /^(FileName|SnippetSPDXID|LicenseID):/ { inpkg = 0 }
        /^SPDXID:/ && inpkg { id[pkgs] = $2; inpkg = 0 }
        /^Relationship:/ && $2 == "SPDXRef-DOCUMENT" && $3 == "DESCRIBES" { described[$4] = 1 }
        END { n = 0; for (i = 1; i <= pkgs; i++) if (!((i in id) && (id[i] in described))) n++; print n }' "$f") ;;
    *) echo "counts.sh: unknown file $f" >&2; exit 1 ;;
    esac
    printf '%s  "%s": %s' "$sep" "$name" "$n"
    sep=",
"
  done
  printf '\n}\n'
} >counts.json
