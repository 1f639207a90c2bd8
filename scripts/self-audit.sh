#!/usr/bin/env bash
# Trilens audits itself with its own CLI, as the README tells users to: the
# release build (reproducible, SBOM, cosign signatures), gosec over every
# module, gitleaks over the tracked files and, when a Go vulnerability
# database is at hand, govulncheck, all submitted to a `trilens up` started
# here (temp data dir, free loopback ports, no tokens), then `trilens gate`
# with the project's own policy, .trilens/self-audit.yaml. The gate's table
# is printed; its exit code is this script's.
#
# TRILENS_VULNDB: a local copy of the Go vulnerability database (a directory
# or file:// URL) for govulncheck -db. Without it govulncheck runs only when
# https://vuln.go.dev answers; offline the audit says it ran without it.
# TRILENS_SELF_AUDIT_POLICY: gate with another policy (e.g. one waiver less,
# to see the gate fail). TRILENS_SELF_AUDIT_JSON: also write the gate's
# verdict as JSON there (the fingerprints waivers name).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$root/.bin:$PATH"
policy="${TRILENS_SELF_AUDIT_POLICY:-$root/.trilens/self-audit.yaml}" # another policy: to try the gate

for tool in gosec gitleaks cosign; do
	command -v "$tool" >/dev/null || { echo "self-audit: $tool is missing: run scripts/deps.sh" >&2; exit 2; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/trilens-self-audit.XXXXXX")"
up_pid=""
cleanup() {
	if [ -n "$up_pid" ] && kill -0 "$up_pid" 2>/dev/null; then
		kill -TERM "$up_pid" && wait "$up_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
t0=$SECONDS
say() { echo "self-audit [$((SECONDS - t0))s]: $*" >&2; }

# free_port prints a loopback port nothing listens on (bash's /dev/tcp
# connects; a refused connection means free).
free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 30000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	echo "self-audit: no free port" >&2
	return 1
}

# 1. The release: reproducible binary, its SBOM, both signed.
RELEASE_REBUILD="${RELEASE_REBUILD:-link}" scripts/release.sh "$work/release"
bin="$work/release/trilens"
say "release built"

# 2. A private Trilens: embedded NATS (in-process only), private ClickHouse.
# Trust comes from the policy, never from the submitter: the server's policy
# is ours plus the release's signing key, and the gate reads that policy
# from the server (--policy=server), as a CI gate should.
server_policy="$work/trilens.yaml"
sed "s|^security:\$|security:\n  signers: [{key: $work/release/cosign.pub}]|" "$policy" >"$server_policy"
grep -q "signers: \[{key: $work/release/cosign.pub}\]" "$server_policy" || { echo "self-audit: $policy has no top-level security: key to add the signer to" >&2; exit 2; }
http=$(free_port) grpc=$(free_port) otlp=$(free_port) ch=$(free_port) chh=$(free_port)
"$bin" up --data.dir="$work/data" --policy.file="$server_policy" \
	--server.http-address="127.0.0.1:$http" --nats.listen= \
	--otlp.grpc-address="127.0.0.1:$grpc" --otlp.http-address="127.0.0.1:$otlp" \
	--store.dsn="clickhouse://127.0.0.1:$ch" --clickhouse.http-port="$chh" \
	>"$work/up.log" 2>&1 &
up_pid=$!

# 3. The scans, while Trilens starts. gosec runs in each module of go.work
# (given several modules at once it loads only one), two at a time; the
# modules' runs, their paths made relative to the repository, go into one
# SARIF log (one report, so no module's report marks another's findings
# fixed). gitleaks reads a copy of the tracked files (not the history, nor
# the untracked .bin and .cache).
gosec_module() { # dir
	local rel=${1#"$root"/} out="$work/gosec-${1##*/}.sarif"
	(cd "$1" && gosec -quiet -no-fail -fmt sarif -out "$out.raw" ./... >"$out.log" 2>&1) ||
		{ cat "$out.log" >&2; echo "self-audit: gosec failed in $rel" >&2; return 1; }
	[ -f "$out.raw" ] || return 0 # gosec writes nothing when it finds nothing
	jq --arg p "$rel/" '(.runs[].results[]?.locations[]?.physicalLocation.artifactLocation.uri) |= ($p + .)' "$out.raw" >"$out"
}
export -f gosec_module
export root work
go list -m -f '{{.Dir}}' | xargs -P 2 -I{} bash -c 'gosec_module {}'
jq -s '{version: "2.1.0", "$schema": .[0]["$schema"], runs: [.[].runs[]]}' "$work"/gosec-*.sarif >"$work/gosec.sarif"
say "gosec done: $(jq '[.runs[].results | length] | add' "$work/gosec.sarif") findings in $(jq '.runs | length' "$work/gosec.sarif") modules"
mkdir "$work/tree"
git ls-files -z --cached --others --exclude-standard | xargs -0 -r cp --parents -t "$work/tree" 2>/dev/null || true
gitleaks dir --config "$root/.gitleaks.toml" --no-banner --redact --exit-code 0 --report-format json --report-path "$work/gitleaks.json" "$work/tree" >"$work/gitleaks.log" 2>&1 ||
	{ cat "$work/gitleaks.log" >&2; echo "self-audit: gitleaks failed" >&2; exit 2; }
say "gitleaks done"
reports=("$work/gosec.sarif" "$work/gitleaks.json")

vulndb="${TRILENS_VULNDB:-}"
if [ -n "$vulndb" ] && [ "${vulndb#file://}" = "$vulndb" ]; then
	vulndb="file://$(cd "$vulndb" && pwd)"
fi
if [ -z "$vulndb" ] && curl -fsS --max-time 5 -o /dev/null https://vuln.go.dev/index/db.json 2>/dev/null; then
	vulndb=https://vuln.go.dev
fi
if [ -n "$vulndb" ] && command -v govulncheck >/dev/null; then
	# govulncheck runs only inside a module: one report per module, each
	# module its own service, so the reports keep apart.
	for m in $(go list -m -f '{{.Dir}}'); do
		(cd "$m" && govulncheck -db "$vulndb" -json ./...) >"$work/govulncheck-${m##*/}.json"
		reports+=("$work/govulncheck-${m##*/}.json")
	done
	say "govulncheck done against $vulndb"
else
	say "ran WITHOUT govulncheck: no Go vulnerability database (set TRILENS_VULNDB to a local copy; https://vuln.go.dev is unreachable)"
fi

# 4. Submit, through the README's CLI.
export TRILENS_URL="http://127.0.0.1:$http"
for _ in $(seq 240); do
	"$bin" ready --url "$TRILENS_URL/ready" >/dev/null 2>&1 && break
	kill -0 "$up_pid" 2>/dev/null || { cat "$work/up.log" >&2; echo "self-audit: trilens up exited" >&2; exit 2; }
	sleep 0.5
done
"$bin" ready --url "$TRILENS_URL/ready" >/dev/null || { tail -n 50 "$work/up.log" >&2; echo "self-audit: trilens up not ready" >&2; exit 2; }
say "trilens up ready on $TRILENS_URL"

subject=(--repo github.com/trilens/trilens --commit "$(git rev-parse HEAD)" --branch "$(git rev-parse --abbrev-ref HEAD)" --service trilens)
rel="$work/release"
for f in trilens trilens.sbom.json; do
	line=$("$bin" submit attestation "${subject[@]}" --key "$rel/cosign.pub" --artifact-file "$rel/$f" "$rel/$f.sigstore.json")
	echo "$line"
	case "$line" in
	*": verified") ;;
	*) echo "self-audit: the signature of $f did not verify" >&2; exit 1 ;;
	esac
done

# After the signatures, so the scorer has them when it counts the SBOM's
# artifact as signed.
"$bin" submit sbom "${subject[@]}" --artifact trilens --digest "sha256:$(sha256sum <"$rel/trilens" | cut -d' ' -f1)" "$rel/trilens.sbom.json"
ids=()
for r in "${reports[@]}"; do
	service=trilens
	case "$r" in */govulncheck-*.json) service=${r##*/govulncheck-} service=${service%.json} ;; esac
	ids+=("$("$bin" submit scan "${subject[@]}" --service "$service" --quiet "$r")")
done
submitted=$SECONDS

# 5. The gate. high_max_age in the policy is 1ns: a high finding must not be
# open at all; a finding's age counts in whole seconds, so the gate starts at
# least a second after the reports were taken.
while [ $((SECONDS - submitted)) -lt 2 ]; do sleep 0.2; done
report_flags=()
for id in "${ids[@]}"; do report_flags+=(--report "$id"); done
say "gate"
set +e
"$bin" gate --repo github.com/trilens/trilens --commit "$(git rev-parse HEAD)" --policy server --wait 3m "${report_flags[@]}"
rc=$?
set -e
if [ -n "${TRILENS_SELF_AUDIT_JSON:-}" ]; then
	"$bin" gate --repo github.com/trilens/trilens --commit "$(git rev-parse HEAD)" --policy server \
		--format json "${report_flags[@]}" >"$TRILENS_SELF_AUDIT_JSON" || true
fi
say "done, gate exit code $rc"
exit "$rc"
