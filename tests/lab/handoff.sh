#!/bin/bash
# A mobile handoff as a timed event (scenarios/lab/handoff.lab: 'at 10s host alice move
# cell', 'at 20s host alice move wifi'): alice's host leaves one NAT for another and
# comes back, with an agent on it whose session to c1 must live through both moves.
#
#   [ public 203.0.113.0/24 ]  server imd 203.0.113.10 (ztna-intermediate)
#     +-- nat wifi (port-restricted) +-- host alice (ztna-agent, bound to 0.0.0.0)
#     +-- nat cell (symmetric)       +   (alice's second uplink, eth1, from 10 s to 20 s)
#     +-- nat office (full-cone)     +-- host c1 (ztna-connector, echo service)
#
# Checks: direct before the move; the supervisor logs both moves done; during the
# first, alice's host has only its cell address (eth1) and its default route via the
# cell NAT; the agent's netlink monitor sees the new address and the session goes
# direct again from it; pings are answered throughout (relay or direct); after the
# move back the host candidate is the wifi address again and pings are answered.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh
B=${BUILD:-build}
N=7
lab_require $N
tap_plan $N

LOG=$LAB_TMP/supervisor.log
t0=$(date +%s.%N)
if ! lab_up scenarios/lab/handoff.lab --log "$LOG"; then
	for ((i = 0; i < N; i++)); do tap_fail "lab up"; done
	exit 0
fi
since() { echo "$(date +%s.%N) - $t0" | bc; }
until_t() { local d; d=$(echo "$1 - $(since)" | bc); [ "${d:0:1}" = "-" ] || sleep "$d"; }
IMD=$ZTLAB_IP_imd
"$B/ztna" pki init "$LAB_TMP/pki" --intermediate-ip "$IMD" --service echo --agent alice \
	--connector c1 >/dev/null 2>&1
lab_bg c1 "$LAB_TMP/echo.log" "$B/bench/zt-testkit" tcp-echo "$ZTLAB_IP_c1:7000"
lab_bg imd "$LAB_TMP/imd.log" "$B/ztna-intermediate" --listen "$IMD:4433" --pki "$LAB_TMP/pki/intermediate" \
	--client agent:alice:ta --client connector:c1:tc --allow alice=echo --serve c1=echo
lab_wait_for "$LAB_TMP/imd.log" "event=start " 5
lab_bg c1 "$LAB_TMP/c1.log" "$B/ztna-connector" --intermediate "$IMD:4433" --pki "$LAB_TMP/pki/connector-c1" \
	--name c1 --token tc --service "echo=tcp:$ZTLAB_IP_c1:7000" --control none --transport udp
lab_bg alice "$LAB_TMP/alice.log" "$B/ztna-agent" --intermediate "$IMD:4433" --pki "$LAB_TMP/pki/agent-alice" \
	--name alice --token ta --forward "tcp:127.0.0.1:8000=echo" --control "$LAB_TMP/alice.sock" \
	--cooldown 2s --transport udp
lab_wait_for "$LAB_TMP/alice.log" "event=connected" 10 && lab_wait_for "$LAB_TMP/c1.log" "event=connected" 10
ping() { "$B/ztna" ping echo --control "$LAB_TMP/alice.sock" "$@"; }

ping -c 2 -i 0.2 >"$LAB_TMP/ping1" 2>&1
lab_wait_for "$LAB_TMP/alice.log" "event=path_switch.*to=direct" 6 &&
	grep -q "event=host_candidates count=1 addrs=\"$ZTLAB_IP_alice(eth0)\"" "$LAB_TMP/alice.log" &&
	tap_ok "before the move: direct, host candidate $ZTLAB_IP_alice (wifi)" ||
	tap_fail "before the move: direct" "$(grep -E 'host_cand|path_' "$LAB_TMP/alice.log" | tail -n 4)"

# pings from ~6 s to ~19 s: across the move at 10 s
until_t 6
ping -c 52 -i 0.25 --timeout 2000 >"$LAB_TMP/ping2" 2>&1 &
pp=$!
until_t 12
addrs=$(ip -n "$ZTLAB_NS_alice" -4 -o addr show | awk '{print $2 "=" $4}' | grep -v '^lo=' | tr '\n' ' ')
route=$(ip -n "$ZTLAB_NS_alice" route show default)
grep -q 'action="host alice move cell" result=done' "$LOG" &&
	[ "$addrs" = "eth1=$ZTLAB_MOVE_IP_alice/24 " ] && [[ $route == "default via $ZTLAB_MOVE_GW_alice dev eth1"* ]] &&
	tap_ok "at 10 s the supervisor moved alice behind cell: $addrs, $route" ||
	tap_fail "the move to cell" "addrs '$addrs' route '$route' log: $(grep 'event=event' "$LOG" | tr '\n' '|')"
lab_wait_for "$LAB_TMP/alice.log" "event=host_candidates count=1 addrs=\"$ZTLAB_MOVE_IP_alice\\(eth1\\)\" reason=netlink" 5 &&
	tap_ok "the agent's netlink monitor sees the new address $ZTLAB_MOVE_IP_alice (eth1)" ||
	tap_fail "the agent sees the new address" "$(grep host_cand "$LAB_TMP/alice.log" | tr '\n' '|')"
wait $pp
answered=$(grep -c '^seq=.* via ' "$LAB_TMP/ping2")
tap_diag "$(tail -n 1 "$LAB_TMP/ping2")"
[ "$answered" -ge 44 ] && tap_ok "pings answered across the move ($answered of 52)" ||
	tap_fail "pings answered across the move" "$answered of 52: $(tr '\n' '|' <"$LAB_TMP/ping2")"
grep 'via direct' "$LAB_TMP/ping2" | tail -n 1 | grep -q "via direct $ZTLAB_PUBLIC_IP_c1:" &&
	awk '/event=host_candidates.*reason=netlink/ {moved = 1} moved && /event=path_switch.*to=direct/ {d = 1} END {exit !d}' "$LAB_TMP/alice.log" &&
	tap_ok "behind cell the session went direct again (symmetric x full-cone)" ||
	tap_fail "direct again behind cell" "$(grep -E 'path_switch|path_decision' "$LAB_TMP/alice.log" | tail -n 5 | tr '\n' '|')"

# back on the wifi at 20 s
until_t 21
lab_wait_for "$LOG" 'action="host alice move wifi" result=done' 3
lab_wait_for "$LAB_TMP/alice.log" "event=host_candidates count=1 addrs=\"$ZTLAB_IP_alice\\(eth0\\)\" reason=netlink" 5 &&
	tap_ok "back behind wifi: the host candidate is $ZTLAB_IP_alice (eth0) again" ||
	tap_fail "back behind wifi" "$(grep host_cand "$LAB_TMP/alice.log" | tr '\n' '|'); $(grep 'event=event' "$LOG" | tr '\n' '|')"
ping -c 8 -i 0.25 --timeout 2000 >"$LAB_TMP/ping3" 2>&1
n3=$(grep -c '^seq=.* via ' "$LAB_TMP/ping3")
[ "$n3" -ge 7 ] && tap_ok "pings answered after the move back ($n3 of 8; $(tail -n 2 "$LAB_TMP/ping3" | head -n 1))" ||
	tap_fail "pings after the move back" "$(tr '\n' '|' <"$LAB_TMP/ping3")"
lab_down
