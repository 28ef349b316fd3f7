#!/bin/bash
# Network change on the agent (issue 5, behaviour 8): the agent binds to 0.0.0.0, so
# its host candidates come from netlink. Its host is renumbered mid-session (a new
# address added, the old one removed); the netlink monitor must see it, re-gather,
# start a new ICE generation, and the session must come back to the direct path with
# the new address, answering pings throughout (relay or direct).
#
#   [ public 203.0.113.0/24 ]  server imd 203.0.113.10 (ztna-intermediate)
#     +-- nat home (full-cone)   +-- host alice  (ztna-agent, bound to 0.0.0.0)
#     +-- nat office (full-cone) +-- host c1     (ztna-connector, echo service)
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh
B=${BUILD:-build}
lab_require 7
tap_plan 7

if ! lab_up scenarios/lab/netchange.lab; then
	for ((i = 0; i < 7; i++)); do tap_fail "lab up"; done
	exit 0
fi
IMD=$ZTLAB_IP_imd
"$B/ztna" pki init "$LAB_TMP/pki" --intermediate-ip "$IMD" --service echo --agent alice \
	--connector c1 >/dev/null 2>&1
lab_bg c1 "$LAB_TMP/echo.log" "$B/bench/zt-testkit" tcp-echo "$ZTLAB_IP_c1:7000"
lab_bg imd "$LAB_TMP/imd.log" "$B/ztna-intermediate" --listen "$IMD:4433" --pki "$LAB_TMP/pki/intermediate" \
	--client agent:alice:ta --client connector:c1:tc --allow alice=echo --serve c1=echo
lab_wait_for "$LAB_TMP/imd.log" "event=start " 5
lab_bg c1 "$LAB_TMP/c1.log" "$B/ztna-connector" --intermediate "$IMD:4433" --pki "$LAB_TMP/pki/connector-c1" \
	--name c1 --token tc --service "echo=tcp:$ZTLAB_IP_c1:7000" --control none
lab_bg alice "$LAB_TMP/alice.log" "$B/ztna-agent" --intermediate "$IMD:4433" --pki "$LAB_TMP/pki/agent-alice" \
	--name alice --token ta --forward "tcp:127.0.0.1:8000=echo" --control "$LAB_TMP/alice.sock" \
	--cooldown 2s
lab_wait_for "$LAB_TMP/alice.log" "event=connected" 10 && lab_wait_for "$LAB_TMP/c1.log" "event=connected" 10

"$B/ztna" ping echo -c 2 -i 0.2 --control "$LAB_TMP/alice.sock" >"$LAB_TMP/ping1" 2>&1
if lab_wait_for "$LAB_TMP/alice.log" "event=path_switch.*to=direct" 6 &&
	grep -q "event=host_candidates count=1 addrs=\"$ZTLAB_IP_alice(eth0)\"" "$LAB_TMP/alice.log"; then
	tap_ok "the agent's host candidate comes from netlink ($ZTLAB_IP_alice), the session goes direct"
else
	tap_fail "host candidate from netlink, direct path" "$(grep -E 'host_cand|path_' "$LAB_TMP/alice.log" | tail -n 4)"
fi

# Renumber alice: a new address, the old one removed (secondaries promoted so the
# new one stays), the default route put back.
NEW=192.168.1.50
NS=$ZTLAB_NS_alice
ip netns exec "$NS" sysctl -qw net.ipv4.conf.eth0.promote_secondaries=1
ip -n "$NS" addr add "$NEW/24" dev eth0
ip -n "$NS" addr del "$ZTLAB_IP_alice/24" dev eth0
ip -n "$NS" route replace default via "$ZTLAB_GW_alice"
t0=$(date +%s%N)
if lab_wait_for "$LAB_TMP/alice.log" "event=host_candidates count=1 addrs=\"$NEW\\(eth0\\)\" reason=netlink" 5; then
	tap_ok "netlink reports the renumbering: host candidates now $NEW"
else
	tap_fail "netlink reports the renumbering" "$(grep host_cand "$LAB_TMP/alice.log")"
fi
# pings keep going while it re-gathers and checks again
"$B/ztna" ping echo -c 20 -i 0.25 --timeout 2000 --control "$LAB_TMP/alice.sock" >"$LAB_TMP/ping2" 2>&1
answered=$(grep -c '^seq=.* via ' "$LAB_TMP/ping2")
tap_diag "$(tail -n 1 "$LAB_TMP/ping2")"
[ "$answered" -ge 18 ] && tap_ok "pings answered during the change ($answered of 20)" ||
	tap_fail "pings answered during the change" "$(cat "$LAB_TMP/ping2" | tr '\n' '|')"
if grep -q "event=path_decision.*action=start-ice reason=network-change" "$LAB_TMP/alice.log"; then
	tap_ok "the change starts a new ICE generation (reason=network-change)"
else
	tap_fail "a new ICE generation on the change" "$(grep -E 'path_decision|ice_gen' "$LAB_TMP/alice.log" | tail -n 4)"
fi
gen=$(grep -c "event=ice_generation" "$LAB_TMP/alice.log")
[ "$gen" -ge 2 ] && tap_ok "ICE generations: $gen" || tap_fail "a second ICE generation" "generations=$gen"
tail -n 3 "$LAB_TMP/ping2" | grep -q "via direct $ZTLAB_PUBLIC_IP_c1:" &&
	tap_ok "the last pings go via direct again ($(tail -n 2 "$LAB_TMP/ping2" | head -n 1))" ||
	tap_fail "back on the direct path" "$(tail -n 3 "$LAB_TMP/ping2" | tr '\n' '|'); $(grep -E 'path_switch|path_decision' "$LAB_TMP/alice.log" | tail -n 4 | tr '\n' '|')"
st=$("$B/ztna" status --control "$LAB_TMP/alice.sock" --raw | grep '^session=')
tap_diag "status: $st (renumbered $(( ($(date +%s%N) - t0) / 1000000 )) ms ago)"
grep -q " path=direct local=$NEW:" <<<"$st" &&
	tap_ok "ztna status: the direct path now starts at the new address $NEW" ||
	tap_fail "status shows the new local address" "$st"
