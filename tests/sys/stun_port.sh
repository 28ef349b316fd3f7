#!/bin/bash
# ztna-intermediate's STUN port (--stun-port, docs/hard-nat.md "How a node learns that
# its NAT is sequential") on loopback, unprivileged: by default the UDP port + 1
# answers Binding requests (ztna discover --basic against it); --stun-port N moves it;
# off (and 0) turns it off; the UDP port itself, a port out of range and a named port
# that cannot be bound are refused with the fix; a default port that cannot be bound
# is a warning and the Intermediate runs. An agent shows nat=eim in ztna status.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/progs.sh
tap_plan 9
progs_init stun-port

P=$PORT
"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --agent alice >/dev/null 2>"$T/pki.err" ||
	{ cat "$T/pki.err"; exit 1; }
IMD=("$B/ztna-intermediate" --pki "$T/pki/intermediate" --client agent:alice:tok-a
	--tcp-listen off)

# The default: the UDP port + 1 answers STUN.
progs_start imd "${IMD[@]}" --listen "$L:$P"
if wait_log "$T/imd.log" 'event=start ' 5 && grep -q "stun_port=$((P + 1)) " "$T/imd.log"; then
	tap_ok "default: stun_port=$((P + 1)) in the start line"
else
	tap_fail "default STUN port" "$(tail -n 3 "$T/imd.log" | tr '\n' '|')"
fi
out=$("$B/ztna" discover --server "$L:$((P + 1))" --basic --json --timeout 2 2>&1)
grep -q "\"reflexive\":\"127\." <<<"$out" && tap_ok "a Binding request to $L:$((P + 1)) is answered" ||
	tap_fail "STUN port answers" "$out"

# An agent logged in over UDP detects no NAT on loopback: nat=eim.
progs_start alice "$B/ztna-agent" --intermediate "$L:$P" --pki "$T/pki/agent-alice" \
	--name alice --token tok-a --bind "$L" --forward "tcp:$L:$((P + 10))=none" \
	--control "$T/alice.sock"
wait_log "$T/alice.log" 'event=nat_detected' 5
st=$("$B/ztna" status --control "$T/alice.sock" 2>&1)
grep -q "nat=eim" <<<"$st" && tap_ok "ztna status: nat=eim ($(grep -o 'event=nat_detected.*' "$T/alice.log"))" ||
	tap_fail "ztna status nat=eim" "$st $(grep -m 1 -o 'event=nat_detected.*' "$T/alice.log")"
progs_stop alice

# The default port taken: a warning, the Intermediate runs without it.
L2=$(rnd_ip)
progs_start imd3 "${IMD[@]}" --listen "$L2:$((P + 20))"
wait_log "$T/imd3.log" 'event=start ' 5 # bound before imd4 looks (slow under ASan)
progs_start imd4 "${IMD[@]}" --listen "$L2:$((P + 19))"
if wait_log "$T/imd4.log" 'event=start ' 5 && grep -q 'event=stun_port_failed' "$T/imd4.log" &&
	grep -q 'stun_port=0 ' "$T/imd4.log"; then
	tap_ok "default port taken: warning stun_port_failed, running without it"
else
	tap_fail "default port taken" "$(tail -n 3 "$T/imd4.log" | tr '\n' '|')"
fi
progs_stop imd3
progs_stop imd4

# --stun-port N, off.
progs_start imd5 "${IMD[@]}" --listen "$L2:$((P + 30))" --stun-port $((P + 35))
wait_log "$T/imd5.log" 'event=start ' 5
grep -q "stun_port=$((P + 35)) " "$T/imd5.log" && tap_ok "--stun-port $((P + 35))" ||
	tap_fail "--stun-port N" "$(tail -n 3 "$T/imd5.log" | tr '\n' '|')"
progs_stop imd5
progs_start imd6 "${IMD[@]}" --listen "$L2:$((P + 40))" --stun-port off
wait_log "$T/imd6.log" 'event=start ' 5
grep -q "stun_port=0 " "$T/imd6.log" && tap_ok "--stun-port off: stun_port=0" ||
	tap_fail "--stun-port off" "$(tail -n 3 "$T/imd6.log" | tr '\n' '|')"
progs_stop imd6

# Refusals, each with the fix.
out=$("${IMD[@]}" --listen "$L2:$((P + 41))" --stun-port $((P + 41)) 2>&1)
rc=$?
[ $rc = 2 ] && grep -q -- "--stun-port off" <<<"$out" && tap_ok "--stun-port = the UDP port: exit 2, fix named" ||
	tap_fail "--stun-port = UDP port" "rc=$rc $out"
out=$("${IMD[@]}" --listen "$L2:$((P + 42))" --stun-port 70000 2>&1)
rc=$?
[ $rc = 2 ] && grep -q "1-65535" <<<"$out" && tap_ok "--stun-port 70000: exit 2, the range named" ||
	tap_fail "--stun-port 70000" "rc=$rc $out"
progs_start imd7 "${IMD[@]}" --listen "$L2:$((P + 43))" --stun-port $((P + 44))
wait_log "$T/imd7.log" 'event=start ' 5
out=$("${IMD[@]}" --listen "$L2:$((P + 45))" --stun-port $((P + 44)) 2>&1)
rc=$?
[ $rc = 1 ] && grep -q -- "--stun-port $L2:$((P + 44))" <<<"$out" &&
	tap_ok "a named --stun-port in use: exit 1" || tap_fail "named port in use" "rc=$rc $out"
progs_stop imd7
