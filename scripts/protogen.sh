#!/usr/bin/env bash
# protogen.sh: the Go code of proto/, generated with pinned Go-built tools
# (buf carries the well-known types itself, so nothing comes from the OS).
#
#   protogen.sh tools      install the pinned buf and protoc-gen-go into .bin
#   protogen.sh generate   regenerate proto/**/*.pb.go (make proto)
#   protogen.sh check      buf lint, buf breaking against main, and a diff of
#                          freshly generated code with the committed code
#                          (make proto-check)
#
# Code is always generated into a temporary directory first: a failing tool
# leaves the checkout as it was, and `check` never writes into it at all.
# `buf breaking` compares with proto/ of the branch main (or origin/main in
# a clone) where this branch left it (their merge base);
# PROTO_BREAKING_AGAINST=<git ref> compares with another ref.
set -euo pipefail

BUF_VERSION=v1.75.0
PROTOC_GEN_GO_VERSION=v1.36.12

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/.bin"
export PATH="$bin:$PATH"
cd "$root/proto"

tools() {
	if [ "$("$bin/buf" --version 2>/dev/null)" != "${BUF_VERSION#v}" ]; then
		echo "protogen: installing buf $BUF_VERSION into .bin" >&2
		GOBIN="$bin" GOWORK=off go install "github.com/bufbuild/buf/cmd/buf@$BUF_VERSION"
	fi
	if [ "$("$bin/protoc-gen-go" --version 2>/dev/null)" != "protoc-gen-go $PROTOC_GEN_GO_VERSION" ]; then
		echo "protogen: installing protoc-gen-go $PROTOC_GEN_GO_VERSION into .bin" >&2
		GOBIN="$bin" GOWORK=off go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
	fi
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# gen generates into $tmp/gen; a failure there touches nothing in proto/.
gen() {
	buf generate --template buf.gen.yaml -o "$tmp/gen"
	if [ -z "$(find "$tmp/gen" -name '*.pb.go' -print -quit)" ]; then
		echo "protogen: buf generate produced no Go code" >&2
		return 1
	fi
}

committed() { find trilens -name '*.pb.go' | sort; }
generated() { (cd "$tmp/gen" && find trilens -name '*.pb.go' | sort); }

breaking() {
	local ref="${PROTO_BREAKING_AGAINST:-}" label=""
	if [ -z "$ref" ]; then
		local r
		for r in refs/heads/main refs/remotes/origin/main; do
			git rev-parse --verify -q "$r^{commit}" >/dev/null && { ref=$r; break; }
		done
		if [ -z "$ref" ]; then
			echo "protogen: no branch main to run buf breaking against: git fetch origin main:main, or set PROTO_BREAKING_AGAINST=<ref>" >&2
			return 1
		fi
		# Compare with the point where this branch left main: a branch behind
		# main has not deleted main's newer fields. On main, and on a pull
		# request's merge commit, this is main itself.
		local base
		base="$(git merge-base HEAD "$ref" 2>/dev/null)" && ref="$base" && label="${r#refs/*/} at the merge base $base"
	fi
	mkdir -p "$tmp/against"
	git archive --format=tar "$ref" -- . | tar -x -C "$tmp/against"
	echo "protogen: buf breaking against ${label:-$ref}" >&2
	buf breaking . --against "$tmp/against"
}

case "${1:-}" in
tools)
	tools
	;;
generate)
	tools
	gen
	# Only now replace: new files first, then the ones no longer generated.
	generated | while read -r f; do
		mkdir -p "$(dirname "$f")"
		cp "$tmp/gen/$f" "$f.tmp" && mv "$f.tmp" "$f"
	done
	comm -23 <(committed) <(generated) | xargs -r rm -f
	;;
check)
	tools
	buf lint
	breaking
	gen
	stale=0
	if [ "$(committed)" != "$(generated)" ]; then
		echo "protogen: committed (-) and generated (+) files differ:" >&2
		diff -u <(committed) <(generated) | tail -n +3 >&2 || true
		stale=1
	fi
	while read -r f; do
		[ -e "$f" ] || continue
		cmp -s "$f" "$tmp/gen/$f" || { diff -u "$f" "$tmp/gen/$f" | head -40 >&2 || true; stale=1; }
	done < <(generated)
	if [ "$stale" = 1 ]; then
		echo "protogen: the generated code in proto/ is stale: run make proto and commit" >&2
		exit 1
	fi
	echo "protogen: buf lint, buf breaking and the generated code are clean" >&2
	;;
*)
	echo "usage: $0 tools|generate|check" >&2
	exit 2
	;;
esac
