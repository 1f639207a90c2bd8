#!/usr/bin/env bash
# Tests scripts/protogen.sh on a scratch git repository holding proto/ and the
# script: a broken protoc-gen-go, a broken buf or a failing `go install` must
# make `generate` and `check` fail and leave every committed file as it was;
# `check` must report stale code without touching it, and `generate` must
# restore it and drop a generated file whose source is gone. Needs the pinned
# tools in .bin (`scripts/protogen.sh tools`).
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
for t in buf protoc-gen-go; do
	[ -x "$src/.bin/$t" ] || { echo "protogen_test: $t missing from .bin: run make tools" >&2; exit 2; }
done

t="$(mktemp -d)"
trap 'rm -rf "$t"' EXIT
repo="$t/repo"
mkdir -p "$repo/scripts" "$repo/.bin"
cp "$src/scripts/protogen.sh" "$repo/scripts/"
(cd "$src" && git ls-files -z --cached --others --exclude-standard -- proto | xargs -0 cp --parents -t "$repo")
printf '/.bin/\n' >"$repo/.gitignore"
g() { git -C "$repo" -c user.name=test -c user.email=test@localhost "$@"; }
g init -q -b main
g add -A
g commit -q -m base

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

# tools links the real pinned tools into the scratch .bin, then overrides
# the ones given as name=script.
tools() {
	rm -rf "$repo/.bin" && mkdir -p "$repo/.bin"
	ln -s "$src/.bin/buf" "$src/.bin/protoc-gen-go" "$repo/.bin/"
	local kv
	for kv in "$@"; do
		rm -f "$repo/.bin/${kv%%=*}"
		printf '#!/bin/sh\n%s\n' "${kv#*=}" >"$repo/.bin/${kv%%=*}"
		chmod +x "$repo/.bin/${kv%%=*}"
	done
}

# expect_broken runs both modes with the current .bin and wants each to fail
# with the tree exactly as committed and the broken tool actually called.
expect_broken() {
	local name=$1 mode
	for mode in generate check; do
		rm -f "$t/called"
		if "$repo/scripts/protogen.sh" "$mode" >"$t/out" 2>&1; then
			fail "$name: protogen.sh $mode succeeded"
			cat "$t/out" >&2
		fi
		[ -e "$t/called" ] || fail "$name: protogen.sh $mode never ran the broken tool"
		if [ -n "$(g status --porcelain --untracked-files=all)" ]; then
			fail "$name: protogen.sh $mode changed the checkout:"
			g status --short --untracked-files=all >&2
			g checkout -q -- . && g clean -q -fd
		else
			pass "$name: protogen.sh $mode failed and left the checkout as committed"
		fi
	done
}

# A plugin that writes half a response and dies.
tools protoc-gen-go='[ "$1" = --version ] && { echo "protoc-gen-go v1.36.12"; exit 0; }
touch "'"$t"'/called"; printf "\\n\\x05garb"; exit 1'
expect_broken "broken protoc-gen-go"

# A buf that writes partial output everywhere it can, then fails.
tools buf='[ "$1" = --version ] && { echo 1.75.0; exit 0; }
touch "'"$t"'/called"
case "$1" in generate) for a; do [ "$prev" = -o ] && mkdir -p "$a/trilens/event/v1" && echo "package broken" >"$a/trilens/event/v1/event.pb.go"; prev=$a; done;; esac
exit 1'
expect_broken "broken buf"

# No buf and no way to install it.
tools
rm "$repo/.bin/buf"
printf '#!/bin/sh\ntouch "%s/called"\necho "go: module lookup disabled" >&2\nexit 1\n' "$t" >"$repo/.bin/go"
chmod +x "$repo/.bin/go"
expect_broken "missing buf, go install failing"

# A breaking change (a field deleted without reserving its number) fails
# check against main.
tools
sed -i '/string rule_id = 2;/d' "$repo/proto/trilens/scan/v1/scan.proto"
if "$repo/scripts/protogen.sh" check >"$t/out" 2>&1; then
	fail "check passed a deleted field"
elif ! grep -q 'rule_id' "$t/out"; then
	fail "check failed on a deleted field for another reason:" && cat "$t/out" >&2
else
	pass "check catches a field deleted from main's schema"
fi
g checkout -q -- proto

# Stale code: check fails without touching it, generate restores it and
# removes generated code without a source.
tools
event=proto/trilens/event/v1/event.pb.go
cp "$repo/$event" "$t/event.pb.go"
echo "// stale" >>"$repo/$event"
mkdir -p "$repo/proto/trilens/gone/v1"
echo "package gonev1" >"$repo/proto/trilens/gone/v1/gone.pb.go"
g add -A
g commit -q -m stale
if "$repo/scripts/protogen.sh" check >"$t/out" 2>&1; then
	fail "check passed on stale generated code"
elif ! grep -q "stale" "$t/out"; then
	fail "check failed on stale code for another reason:" && cat "$t/out" >&2
elif [ -n "$(g status --porcelain --untracked-files=all)" ]; then
	fail "check changed the checkout" && g status --short >&2
else
	pass "check reports stale code and leaves it as committed"
fi
if ! "$repo/scripts/protogen.sh" generate >"$t/out" 2>&1; then
	fail "generate failed with the real tools:" && cat "$t/out" >&2
elif ! cmp -s "$repo/$event" "$t/event.pb.go"; then
	fail "generate did not restore $event"
elif [ -e "$repo/proto/trilens/gone/v1/gone.pb.go" ]; then
	fail "generate kept gone.pb.go, which no .proto generates"
elif [ "$(g status --porcelain --untracked-files=all | wc -l)" -ne 2 ]; then
	fail "generate changed more than the two stale files:" && g status --short >&2
else
	pass "generate restores stale code and removes code without a source"
fi

[ "$failures" -eq 0 ] || { echo "protogen_test: $failures failure(s)" >&2; exit 1; }
echo "protogen_test: all cases passed"
