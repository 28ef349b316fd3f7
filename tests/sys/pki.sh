#!/bin/bash
# ztna pki init / issue: bundles, modes, refusals, and certificates the CA verifies
# (checked with the library's own TLS handshake tests; here: the command line).
# ztna pki list / show / export, --days, and the programs' expiry check at start.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
ZTNA=${BUILD:-build}/ztna
tap_plan 17

tmp=$(mktemp -d /tmp/zt-pki-sys.XXXXXX)
IMD=${BUILD:-build}/ztna-intermediate
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
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

# list: every bundle, where it goes, each certificate's identity and expiry
"$ZTNA" pki list "$d" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && grep -q "^agent-alice/  -> agent alice's host" "$tmp/out" &&
	grep -q "^ca/  stays on the machine" "$tmp/out" &&
	grep -q "connector-c1.pem  *ztna:connector:c1  *until" "$tmp/out" &&
	grep -q "service-web.pem  *ztna:service:web" "$tmp/out" && ! grep -q "expires soon" "$tmp/out" &&
	tap_ok "list names each bundle's host and each certificate, exit 0 when all are valid" ||
	tap_fail "list names each bundle's host" "rc=$rc $(cat "$tmp/out" "$tmp/err")"

"$ZTNA" pki show "$d/intermediate/intermediate.pem" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && grep -q "identity ztna:intermediate:intermediate" "$tmp/out" &&
	grep -q "names .*DNS:intermediate.ztna.*IP:127.0.0.1" "$tmp/out" &&
	grep -Eq "sha256    ([0-9A-F]{2}:){31}[0-9A-F]{2}$" "$tmp/out" && grep -q "ca        no" "$tmp/out" &&
	tap_ok "show prints names, identity, fingerprint" ||
	tap_fail "show prints names, identity, fingerprint" "rc=$rc $(cat "$tmp/out" "$tmp/err")"

"$ZTNA" pki show /etc/hostname >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && grep -q "not a PEM certificate" "$tmp/err" && tap_ok "show refuses a file that is not a certificate" ||
	tap_fail "show refuses a file that is not a certificate" "rc=$rc $(cat "$tmp/err")"

# export: only that party's files, with their modes; an existing file needs --force
x=$tmp/alice-out
"$ZTNA" pki export "$d" --for agent alice "$x" >"$tmp/out" 2>"$tmp/err"
rc=$?
files=$(cd "$x" 2>/dev/null && ls | tr '\n' ' ')
modes=$(stat -c %a "$x" "$x/agent-alice.key" "$x/agent-alice.pem" 2>/dev/null | tr '\n' ' ')
[ $rc -eq 0 ] && [ "$files" = "agent-alice.key agent-alice.pem ca.pem " ] && [ "$modes" = "700 600 644 " ] &&
	grep -q "ztna-agent --pki $x" "$tmp/out" &&
	tap_ok "export --for agent copies that bundle only (dir 0700, key 0600)" ||
	tap_fail "export --for agent copies that bundle only" "rc=$rc files=$files modes=$modes $(cat "$tmp/err")"
"$ZTNA" pki export "$d" --for agent alice "$x" >/dev/null 2>"$tmp/err"
rc1=$?
"$ZTNA" pki export "$d" --for agent alice "$x" --force >/dev/null 2>&1
rc2=$?
[ $rc1 -eq 1 ] && grep -q -- "--force" "$tmp/err" && [ $rc2 -eq 0 ] &&
	tap_ok "export refuses to overwrite without --force" ||
	tap_fail "export refuses to overwrite without --force" "rc=$rc1/$rc2 $(cat "$tmp/err")"
"$ZTNA" pki export "$d" --for connector nobody "$tmp/n" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && grep -q "pki issue $d --connector nobody" "$tmp/err" && [ ! -e "$tmp/n" ] &&
	tap_ok "export of a party without a bundle says how to make it" ||
	tap_fail "export of a party without a bundle says how to make it" "rc=$rc $(cat "$tmp/err")"

# --days: a short-lived certificate is marked by list and show (exit 1: a cron check)
s=$tmp/short
"$ZTNA" pki init "$s" --intermediate-ip 127.0.0.1 --agent eve --days 20 >/dev/null 2>&1
"$ZTNA" pki list "$s" >"$tmp/out" 2>&1
rc1=$?
"$ZTNA" pki show "$s/agent-eve/agent-eve.pem" >"$tmp/out2" 2>&1
rc2=$?
[ $rc1 -eq 1 ] && grep -q "agent-eve.pem .*(19 days)  expires soon\|agent-eve.pem .*(20 days)  expires soon" "$tmp/out" &&
	[ $rc2 -eq 1 ] && grep -q "expires soon" "$tmp/out2" &&
	tap_ok "--days 20: list and show mark it (exit 1)" ||
	tap_fail "--days 20: list and show mark it" "rc=$rc1/$rc2 $(cat "$tmp/out" "$tmp/out2")"

# the programs: a certificate near its end is a warning at start, an expired one an error
"$IMD" --pki "$s/intermediate" --listen 127.0.0.1:0 --tcp-listen off --stun-port off \
	--client agent:eve >"$tmp/imd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "event=start" "$tmp/imd.log" && break; sleep 0.1; done
kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
grep -q "event=start" "$tmp/imd.log" &&
	grep -q "level=warn .*event=cert_expiry file=$s/intermediate/intermediate.pem what=certificate .*days_left=[12][90] fix=" "$tmp/imd.log" &&
	! grep -q "what=CA certificate" "$tmp/imd.log" &&
	tap_ok "a program warns at start about its certificate's end (and starts)" ||
	tap_fail "a program warns at start about its certificate's end" "$(cat "$tmp/imd.log")"

if command -v faketime >/dev/null; then
	o=$tmp/old
	# verify_asan_link_order=0: faketime's preload comes before ASan's (make test SAN=1)
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
		faketime -f "-40d" "$ZTNA" pki init "$o" --intermediate-ip 127.0.0.1 --agent eve --days 20 >/dev/null 2>&1
	"$ZTNA" pki show "$o/intermediate/intermediate.pem" >"$tmp/out" 2>&1
	rc1=$?
	timeout 10 "$IMD" --pki "$o/intermediate" --listen 127.0.0.1:0 --tcp-listen off --stun-port off \
		--client agent:eve >"$tmp/imd.log" 2>&1
	rc2=$?
	# an agent too (exit 2 for both: systemd's units do not restart on it)
	timeout 10 "${BUILD:-build}/ztna-agent" --pki "$o/agent-eve" --name eve --intermediate 127.0.0.1:9 \
		--forward tcp:127.0.0.1:9=web >"$tmp/agent.log" 2>&1
	rc3=$?
	[ $rc1 -eq 1 ] && grep -q "EXPIRED, 2[01] days ago" "$tmp/out" && [ $rc2 -eq 2 ] && [ $rc3 -eq 2 ] &&
		grep -q "certificate $o/agent-eve/agent-eve.pem expired on" "$tmp/agent.log" &&
		grep -q "certificate $o/intermediate/intermediate.pem expired on .*ztna pki issue" "$tmp/imd.log" &&
		tap_ok "an expired certificate: show says so, the program refuses to start naming the fix" ||
		tap_fail "an expired certificate" "rc=$rc1/$rc2/$rc3 $(cat "$tmp/out" "$tmp/imd.log" "$tmp/agent.log")"
else
	tap_skip "an expired certificate" "faketime is not installed (tools/deps.sh lab)"
fi
