#!/bin/bash
# ztna pki init / issue: bundles, modes, refusals, and certificates the CA verifies
# (checked with the library's own TLS handshake tests; here: the command line).
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
ZTNA=${BUILD:-build}/ztna
tap_plan 8

tmp=$(mktemp -d /tmp/zt-pki-sys.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
d=$tmp/pki

if "$ZTNA" pki init "$d" --intermediate-ip 127.0.0.1 --service web --agent alice \
	--connector c1 >"$tmp/out" 2>"$tmp/err"; then
	tap_ok "init succeeds"
else
	tap_fail "init succeeds" "$(cat "$tmp/err")"
fi
missing=
for f in ca/ca intermediate/intermediate connector-c1/service-web agent-alice/agent-alice \
	connector-c1/connector-c1; do
	[ -s "$d/$f.pem" ] && [ -s "$d/$f.key" ] || missing="$missing $f"
done
for b in intermediate connector-c1 agent-alice; do
	[ -s "$d/$b/ca.pem" ] || missing="$missing $b/ca.pem"
done
[ -z "$missing" ] && tap_ok "every certificate and key written, in its party's bundle" ||
	tap_fail "every certificate and key written" "missing:$missing"
modes=$(stat -c '%a' "$d/ca/ca.key" "$d/agent-alice/agent-alice.key" "$d/ca/ca.pem" "$d/agent-alice" | tr '\n' ' ')
[ "$modes" = "600 600 644 700 " ] && tap_ok "keys 0600, certificates 0644, bundles 0700" ||
	tap_fail "keys 0600, certificates 0644, bundles 0700" "modes: $modes"
grep -q "BEGIN CERTIFICATE" "$d/connector-c1/service-web.pem" &&
	grep -q "BEGIN PRIVATE KEY" "$d/connector-c1/service-web.key" && tap_ok "PEM" || tap_fail "PEM"

"$ZTNA" pki init "$d" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && grep -q -- "--force" "$tmp/err" && tap_ok "init refuses an existing CA" ||
	tap_fail "init refuses an existing CA" "rc=$rc $(cat "$tmp/err")"

"$ZTNA" pki issue "$d" --agent bob >/dev/null 2>"$tmp/err" && [ -s "$d/agent-bob/agent-bob.pem" ] &&
	tap_ok "issue adds an identity" || tap_fail "issue adds an identity" "$(cat "$tmp/err")"

"$ZTNA" pki issue "$d" --agent 'b b' >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q "A-Za-z0-9" "$tmp/err" && tap_ok "a bad name is refused with the rule" ||
	tap_fail "a bad name is refused with the rule" "rc=$rc $(cat "$tmp/err")"

"$ZTNA" pki issue "$tmp/nothing" --agent x >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && grep -q "pki init" "$tmp/err" && tap_ok "issue without a CA says what to do" ||
	tap_fail "issue without a CA says what to do" "rc=$rc $(cat "$tmp/err")"
