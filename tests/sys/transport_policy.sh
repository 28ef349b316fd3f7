#!/bin/bash
# Per-identity transport policy (docs/security.md, "Per-identity limits"), on loopback,
# unprivileged:
#
#   ztna-agent alice (--transport tcp) --.
#   ztna-agent bob   (--transport tcp) ---+-- ztna-intermediate --limit agent:alice=transport:udp
#   ztna-agent alice (--transport udp) --'    UDP L:P, TCP L:P+1
#
# Checks: alice's login over TCP is refused with ERROR 1501 naming the transport and her
# identity, her log says so and she backs off (2 tries at most in 4 s, not a loop); the
# Intermediate logs and counts the refusal; bob (no limit) logs in over TCP; alice over
# UDP logs in. ZT_KEEP=1 keeps the logs.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
B=${BUILD:-build}
tap_plan 5

. tests/lib/progs.sh
progs_init transport-policy

P_IMD=$PORT P_TCP=$((PORT + 1))
TOK_A=tok-a-$RANDOM TOK_B=tok-b-$RANDOM

"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --service echo@c1 --agent alice \
	--agent bob --connector c1 >/dev/null 2>"$T/pki.err" || { cat "$T/pki.err"; exit 1; }

progs_start imd "$B/ztna-intermediate" --listen "$L:$P_IMD" --tcp-listen "$L:$P_TCP" \
	--pki "$T/pki/intermediate" --client "agent:alice:$TOK_A" --client "agent:bob:$TOK_B" \
	--allow alice=echo --allow bob=echo --serve c1=echo --limit agent:alice=transport:udp
wait_log "$T/imd.log" 'event=start.*limits=1' 5
progs_start alice "$B/ztna-agent" --intermediate "$L:$P_IMD" --transport tcp \
	--intermediate-tcp "$L:$P_TCP" --pki "$T/pki/agent-alice" --name alice --token "$TOK_A" \
	--forward "tcp:$L:$((PORT + 10))=echo" --direct off --control none
progs_start bob "$B/ztna-agent" --intermediate "$L:$P_IMD" --transport tcp \
	--intermediate-tcp "$L:$P_TCP" --pki "$T/pki/agent-bob" --name bob --token "$TOK_B" \
	--forward "tcp:$L:$((PORT + 11))=echo" --direct off --control none

# 1. alice over TCP: refused, with the reason in her log.
if wait_log "$T/alice.log" 'event=login_refused.*transport tcp not allowed for ztna:agent:alice' 5; then
	tap_ok "alice's login over TCP is refused: $(grep -o 'reason="[^"]*"' "$T/alice.log" | head -n 1)"
else
	tap_fail "alice refused over TCP" "$(tail -n 3 "$T/alice.log" "$T/imd.log" | tr '\n' '|')"
fi
grep -q 'event=login_refused identity=ztna:agent:alice .*transport=tcp reason=transport-not-allowed' \
	"$T/imd.log" && tap_ok "the Intermediate logs the refusal, naming the identity and transport" ||
	tap_fail "the Intermediate's login_refused line" "$(grep -E 'warn|error' "$T/imd.log" | tail -n 3 | tr '\n' '|')"

# 2. Not a loop: one more try at most within 4 s (the next one comes 2.5-5 s later).
sleep 4
n=$(count_log "$T/alice.log" 'event=login_refused')
hup_stats imd
refused=$(stat_of imd transport_refused)
# (the Intermediate may have refused a try whose ERROR alice has not logged yet)
[ "$n" -ge 1 ] && [ "${refused:-0}" -le 2 ] && [ "${refused:-0}" -ge "$n" ] &&
	[ "${refused:-0}" -le $((n + 1)) ] &&
	tap_ok "alice backs off: $n refusals in 4 s, transport_refused=$refused" ||
	tap_fail "alice backs off" "$n refusals in her log, transport_refused=${refused:-?}"

# 3. bob over TCP (no limit), alice over UDP.
wait_log "$T/bob.log" 'event=connected.*transport=tcp' 5 &&
	tap_ok "bob (no limit) logs in over TCP" ||
	tap_fail "bob over TCP" "$(tail -n 3 "$T/bob.log" | tr '\n' '|')"
progs_stop alice
progs_start alice2 "$B/ztna-agent" --intermediate "$L:$P_IMD" --transport udp \
	--pki "$T/pki/agent-alice" --name alice --token "$TOK_A" \
	--forward "tcp:$L:$((PORT + 12))=echo" --direct off --control none
wait_log "$T/alice2.log" 'event=connected.*transport=udp' 5 &&
	tap_ok "alice logs in over UDP" ||
	tap_fail "alice over UDP" "$(tail -n 3 "$T/alice2.log" "$T/imd.log" | tr '\n' '|')"
