#!/usr/bin/env bash
# fresh-check runs the README's quick start (`make demo`, then `make test`) as
# a new user would: in a minimal Debian 12 root built by debootstrap from
# Debian's packages, on a clone of HEAD, with the host's Go toolchain copied in
# and empty Go module and build caches. Only make and git (what the README
# assumes) are added to the root; everything else must come from the project's
# deps scripts. Opt-in (`make fresh-check`), root only, needs the network.
#
# The pristine root is cached as a tarball under .cache/fresh-check, so reruns
# skip debootstrap; every run starts from a fresh copy of it. The full log goes
# to .cache/fresh-check/fresh-check.log (FRESH_CHECK_LOG overrides).
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd -P)"
cache="$src/.cache/fresh-check"
log="${FRESH_CHECK_LOG:-$cache/fresh-check.log}"
base="$cache/bookworm-minbase.tar"
mirror="${FRESH_CHECK_MIRROR:-http://deb.debian.org/debian}"
demo_timeout="${FRESH_CHECK_DEMO_TIMEOUT:-5400}" # seconds; the first deps run builds cosign and syft
test_timeout="${FRESH_CHECK_TEST_TIMEOUT:-5400}"

[ "$(id -u)" -eq 0 ] || { echo "fresh-check: needs root (debootstrap, chroot, mounts)" >&2; exit 2; }
goroot="$(go env GOROOT 2>/dev/null)" || { echo "fresh-check: needs the Go toolchain on the host" >&2; exit 2; }
mkdir -p "$cache"
: >"$log"
exec > >(tee -a "$log") 2>&1

started=$SECONDS
stamp() { printf '[fresh-check %s +%ds] %s\n' "$(date -u +%H:%M:%S)" $((SECONDS - started)) "$*"; }
phase_start=0
phase() { phase_start=$SECONDS; stamp "$*"; }
took() { stamp "$1 took $((SECONDS - phase_start))s"; }

root="$cache/root"
mounted=()
cleanup() {
	local rc=$?
	# Stop whatever is still running inside the root (the demo's server, a
	# test's clickhouse-server) so its mounts can go.
	local pid
	for pid in /proc/[0-9]*; do
		[ "$(readlink "$pid/root" 2>/dev/null)" = "$root" ] && kill -KILL "${pid#/proc/}" 2>/dev/null || true
	done
	local i
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount -R "${mounted[i]}" 2>/dev/null || umount -R -l "${mounted[i]}" || true
	done
	# A passing run's root (gigabytes) goes; a failing one stays to look at.
	[ "$rc" -eq 0 ] && { remove_root || true; }
	stamp "exit $rc after $((SECONDS - started))s; log: $log"
}
trap cleanup EXIT

# remove_root deletes the root once nothing is mounted in it any more; an
# interrupted run may have left mounts. --one-file-system never follows
# into a host filesystem.
remove_root() {
	[ -d "$root" ] || return 0
	grep -o " $root/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -R -l "$m" || true; done
	if grep -q " $root/" /proc/mounts; then
		echo "fresh-check: mounts left under $root, not deleting it" >&2
		return 1
	fi
	rm -rf --one-file-system "$root"
}
remove_root

if ! command -v debootstrap >/dev/null; then
	phase "installing debootstrap"
	apt-get install -y --no-install-recommends debootstrap </dev/null || { apt-get update </dev/null && apt-get install -y --no-install-recommends debootstrap </dev/null; }
fi

if [ ! -s "$base" ]; then
	phase "debootstrap --variant=minbase bookworm from $mirror"
	rm -rf "$cache/base"
	debootstrap --variant=minbase bookworm "$cache/base" "$mirror"
	tar -C "$cache/base" -cf "$base.tmp" . && mv "$base.tmp" "$base"
	rm -rf "$cache/base"
	took "debootstrap"
else
	stamp "pristine root: cached $base"
fi

phase "preparing a fresh copy of the root"
mkdir -p "$root"
tar -C "$root" -xf "$base"
# Go as the README asks for it: the host's toolchain, nothing else of its.
mkdir -p "$root/usr/local"
cp -a "$goroot" "$root/usr/local/go"
# The host's network configuration: DNS, the same Debian archive sections,
# and the local CAs a TLS-inspecting egress proxy needs (ca-certificates,
# which the deps scripts install, picks them up).
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
if compgen -G '/etc/apt/sources.list.d/*.sources' >/dev/null || [ -s /etc/apt/sources.list ]; then
	rm -f "$root/etc/apt/sources.list"
	cp -a /etc/apt/sources.list "$root/etc/apt/" 2>/dev/null || true
	for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
		[ -e "$f" ] && cp -a "$f" "$root/etc/apt/sources.list.d/"
	done
fi
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
	mkdir -p "$root/usr/local/share/ca-certificates"
	cp -a /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi
rev="$(git -C "$src" rev-parse HEAD)"
[ -z "$(git -C "$src" status --porcelain)" ] || stamp "warning: uncommitted changes are not part of the check (it clones HEAD $rev)"
git clone -q "$src" "$root/src/trilens"
git -C "$root/src/trilens" checkout -q "$rev"
mkdir -p "$root/proc" "$root/sys" "$root/dev"
mount -t proc proc "$root/proc" && mounted+=("$root/proc")
# /dev and /sys with their submounts (pts, shm, cgroups); rslave keeps the
# unmounts from propagating back to the host.
for m in sys dev; do
	mount --rbind "/$m" "$root/$m" && mounted+=("$root/$m")
	mount --make-rslave "$root/$m"
done
took "preparing the root"

# inroot runs a command in the root with a clean environment: empty Go caches
# inside the root, no GOFLAGS or proxies beyond what the host's network needs.
inroot() {
	local env=(HOME=/root LANG=C.UTF-8 TERM=dumb GOTOOLCHAIN=local
		PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
		GOMODCACHE=/root/go/pkg/mod GOCACHE=/root/.cache/go-build)
	local v
	for v in GOPROXY GOSUMDB GONOSUMDB GOPRIVATE http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
		[ -n "${!v:-}" ] && env+=("$v=${!v}")
	done
	[ -n "${NODE_EXTRA_CA_CERTS:-}" ] && env+=("NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS")
	chroot "$root" /usr/bin/env -i "${env[@]}" /bin/bash -c "$1"
}

phase "installing the README's prerequisites: make, git"
inroot 'export DEBIAN_FRONTEND=noninteractive; apt-get update -q && apt-get install -y -q --no-install-recommends make git' </dev/null
inroot 'go version; git --version; make --version | head -1'
took "prerequisites"

# make demo runs until Ctrl-C: wait for its banner, then interrupt the
# trilens process (not make) and require make to exit 0.
phase "make demo"
demo_log="$cache/demo.log"
inroot 'cd /src/trilens && exec make demo' </dev/null >"$demo_log" 2>&1 &
make_pid=$!
demo_ok=0
deadline=$((SECONDS + demo_timeout))
while kill -0 "$make_pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
	if grep -q '^Press Ctrl-C to stop' "$demo_log"; then
		demo_ok=1
		break
	fi
	sleep 5
done
tl_pid=""
for pid in /proc/[0-9]*; do
	[ "$(readlink "$pid/exe" 2>/dev/null)" = "$root/src/trilens/.bin/trilens" ] && tl_pid=${pid#/proc/}
done
[ -n "$tl_pid" ] && kill -INT "$tl_pid"
demo_rc=0
wait "$make_pid" || demo_rc=$?
cat "$demo_log"
took "make demo"
if [ "$demo_ok" != 1 ] || [ "$demo_rc" -ne 0 ]; then
	stamp "FAIL: make demo (banner seen: $demo_ok, exit $demo_rc)"
	exit 1
fi
stamp "OK: make demo fed the demo evidence and exited 0 on Ctrl-C"

phase "make test"
test_rc=0
inroot "cd /src/trilens && timeout $test_timeout make test" </dev/null || test_rc=$?
took "make test"
if [ "$test_rc" -ne 0 ]; then
	stamp "FAIL: make test exited $test_rc"
	exit 1
fi
stamp "OK: make test passed"
stamp "PASS: both README commands succeeded in a fresh Debian 12 root in $((SECONDS - started))s"
