#!/usr/bin/env bash
# Regenerates the Go code of every .proto under proto/ with the pinned protoc-gen-go.
set -euo pipefail
cd "$(dirname "$0")/../proto"
command -v protoc >/dev/null || { echo "protoc missing: run make deps" >&2; exit 2; }
find trilens -name '*.pb.go' -delete
protoc -I . --go_out=. --go_opt=module=github.com/trilens/trilens/proto $(find trilens -name '*.proto' | sort)
