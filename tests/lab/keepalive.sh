#!/bin/bash
# Direct-path keepalive keeps NAT mappings open (issue 5, behaviour 6): both NATs
# forget an idle UDP mapping after 6 s. Pair 1 (alice <-> c1) keeps its direct path
# alive with --keepalive-direct 2s through 20 s of idleness; the control pair
# (bob <-> c2, --keepalive-direct 25s) shows the mappings really expire: after the
# same idleness its direct path is gone and it falls back to the relay (pings are
# still answered, via the relay).
#
#   [ public 203.0.113.0/24 ]  server imd 203.0.113.10 (ztna-intermediate)
#     +-- nat home   (port-restricted, timeout 6)  +-- host alice, host bob (agents)
#     +-- nat office (port-restricted, timeout 6)  +-- host c1, host c2 (connectors)
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh
B=${BUILD:-build}
lab_require 7
tap_plan 7

cat >"$LAB_TMP/ka.lab" <<LAB
lab keepalive
public 203.0.113.0/24
server imd addr 203.0.113.10
nat home type port-restricted lan 192.168.1.0/24 wan 203.0.113.1 timeout 6
host alice behind home
host bob behind home
nat office type port-restricted lan 192.168.2.0/24 wan 203.0.113.2 timeout 6
host c1 behind office
host c2 behind office
LAB
if ! lab_up "$LAB_TMP/ka.lab"; then
	for ((i = 0; i < 7; i++)); do tap_fail "lab up"; done
	exit 0
fi
IMD=$ZTLAB_IP_imd
"$B/ztna" pki init "$LAB_TMP/pki" --intermediate-ip "$IMD" --agent alice --agent bob \
	--connector c1=s1 --connector c2=s2 >/dev/null 2>&1
lab_bg imd "$LAB_TMP/imd.log" "$B/ztna-intermediate" --listen "$IMD:4433" --pki "$LAB_TMP/pki/intermediate" \
	--client agent:alice:ta --client agent:bob:tb --client connector:c1:t1 \
	--client connector:c2:t2 --allow alice=s1 --allow bob=s2 --serve c1=s1 --serve c2=s2
lab_wait_for "$LAB_TMP/imd.log" "event=start " 5
# the outer connections keep their own mappings (--keepalive 2s)
for n in 1 2; do
	ka=2s
	[ $n = 2 ] && ka=25s
	ip=$(eval echo "\$ZTLAB_IP_c$n")
	lab_bg c$n "$LAB_TMP/echo$n.log" "$B/bench/zt-testkit" tcp-echo "$ip:7000"
	lab_bg c$n "$LAB_TMP/c$n.log" "$B/ztna-connector" --intermediate "$IMD:4433" --pki "$LAB_TMP/pki/connector-c$n" \
		--name c$n --token t$n --service "s$n=tcp:$ip:7000" \
		--control none --keepalive 2s --keepalive-direct $ka
done
lab_bg alice "$LAB_TMP/alice.log" "$B/ztna-agent" --intermediate "$IMD:4433" --pki "$LAB_TMP/pki/agent-alice" \
	--name alice --token ta --forward "tcp:127.0.0.1:8000=s1" --control "$LAB_TMP/alice.sock" \
	--keepalive 2s --keepalive-direct 2s
lab_bg bob "$LAB_TMP/bob.log" "$B/ztna-agent" --intermediate "$IMD:4433" --pki "$LAB_TMP/pki/agent-bob" \
	--name bob --token tb --forward "tcp:127.0.0.1:8000=s2" --control "$LAB_TMP/bob.sock" \
	--keepalive 2s --keepalive-direct 25s
for n in alice bob c1 c2; do lab_wait_for "$LAB_TMP/$n.log" "event=connected" 10 >/dev/null; done

"$B/ztna" ping s1 -c 2 -i 0.2 --control "$LAB_TMP/alice.sock" >/dev/null 2>&1
"$B/ztna" ping s2 -c 2 -i 0.2 --control "$LAB_TMP/bob.sock" >/dev/null 2>&1
if lab_wait_for "$LAB_TMP/alice.log" "event=path_switch.*to=direct" 6 &&
	lab_wait_for "$LAB_TMP/bob.log" "event=path_switch.*to=direct" 6; then
	tap_ok "both sessions go direct through two port-restricted NATs"
else
	tap_fail "both sessions go direct" "$(grep -h path_ "$LAB_TMP/alice.log" "$LAB_TMP/bob.log" | tail -n 4)"
fi
tap_diag "idle for 20 s (NAT mapping timeout 6 s)"
sleep 20
"$B/ztna" ping s1 -c 3 -i 0.3 --control "$LAB_TMP/alice.sock" >"$LAB_TMP/alice.ping" 2>&1
"$B/ztna" ping s2 -c 3 -i 0.3 --control "$LAB_TMP/bob.sock" >"$LAB_TMP/bob.ping" 2>&1
tap_diag "alice: $(tail -n 1 "$LAB_TMP/alice.ping")"
tap_diag "bob:   $(tail -n 1 "$LAB_TMP/bob.ping")"
[ "$(grep -c 'via direct' "$LAB_TMP/alice.ping")" = 3 ] &&
	tap_ok "keepalive 2 s: after 20 s idle every ping goes via direct" ||
	tap_fail "keepalive 2 s: pings via direct after idle" "$(tr '\n' '|' <"$LAB_TMP/alice.ping")"
n=$(grep -c "event=path_switch" "$LAB_TMP/alice.log")
[ "$n" = 1 ] && tap_ok "keepalive 2 s: the path never switched back (1 switch)" ||
	tap_fail "keepalive 2 s: no fallback" "$(grep path_switch "$LAB_TMP/alice.log" | tail -n 3)"
lab_wait_for "$LAB_TMP/bob.log" "event=path_decision.*action=go-relay" 5 >/dev/null &&
	tap_ok "control, keepalive 25 s: the expired mapping is noticed, the session falls back ($(grep -o 'action=go-relay reason=[a-z-]*' "$LAB_TMP/bob.log" | head -n 1))" ||
	tap_fail "control: the expired mapping is noticed" "$(grep -E 'path_' "$LAB_TMP/bob.log" | tail -n 3)"
"$B/ztna" ping s2 -c 2 -i 0.2 --control "$LAB_TMP/bob.sock" >"$LAB_TMP/bob.ping2" 2>&1
[ "$(grep -c 'via ' "$LAB_TMP/bob.ping2")" = 2 ] &&
	tap_ok "control: pings still answered ($(grep -o 'via [a-z]*' "$LAB_TMP/bob.ping2" | tail -n 1))" ||
	tap_fail "control: pings still answered" "$(tr '\n' '|' <"$LAB_TMP/bob.ping2")"
st=$("$B/ztna" status --control "$LAB_TMP/alice.sock" --raw | grep '^session=')
grep -q "path=direct .*switches=1 " <<<"$st" && tap_ok "ztna status: alice direct, 1 switch" ||
	tap_fail "ztna status: alice direct, 1 switch" "$st"
if grep -q "event=ice_consent_lost\|reason=consent" "$LAB_TMP/alice.log"; then
	tap_fail "keepalive 2 s: consent never lost" "$(grep consent "$LAB_TMP/alice.log" | head -n 2)"
else
	tap_ok "keepalive 2 s: consent never lost"
fi
