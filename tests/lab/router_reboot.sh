#!/bin/bash
# A field failure reproduced end to end from one scenario file with timed events
# (scenarios/lab/router-reboot.lab): at 3 s each laptop opens a TCP connection through
# its agent's forward and sends a request; the service behind the connector pushes its
# answer 7 s later (10 s); both home routers reboot at 5 s ('at 5s nat homeN flush'),
# so the connector's push meets a NAT that no longer knows the laptop. alice keeps her
# paths alive every 20 s (--keepalive 20s --keepalive-direct 20s): her answer waits
# for her next keepalive and QUIC's retransmission (the failure: seconds late, then
# it recovers at that keepalive); bob every 3 s: his mapping is back before the push (the fix: on time).
#
#   [ public ]  imd 203.0.113.10      c1 behind office (full-cone): socat, pushes 7 s late
#     +-- home1 (port-restricted) -- alice (agent, keepalives 20 s)
#     +-- home2 (port-restricted) -- bob   (agent, keepalives 3 s)
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh
B=${BUILD:-build}
N=5
lab_require $N
tap_plan $N

LOG=$LAB_TMP/supervisor.log
if ! lab_up scenarios/lab/router-reboot.lab --log "$LOG" ${CAPTURE:+--capture "$CAPTURE"}; then
	for ((i = 0; i < N; i++)); do tap_fail "lab up"; done
	exit 0
fi
t0=$(date +%s.%N) # the events count from here (up returned: the lab is ready)
IMD=$ZTLAB_IP_imd
"$B/ztna" pki init "$LAB_TMP/pki" --intermediate-ip "$IMD" --service slow --agent alice --agent bob \
	--connector c1 >/dev/null 2>&1
# the slow service: each connection gets "pong" 7 s after it opened
lab_bg c1 "$LAB_TMP/slow.log" socat -t 10 TCP-LISTEN:7000,fork,reuseaddr SYSTEM:'sleep 7; echo pong'
lab_bg imd "$LAB_TMP/imd.log" "$B/ztna-intermediate" --listen "$IMD:4433" --pki "$LAB_TMP/pki/intermediate" \
	--client agent:alice:ta --client agent:bob:tb --client connector:c1:tc --allow alice=slow \
	--allow bob=slow --serve c1=slow
lab_wait_for "$LAB_TMP/imd.log" "event=start " 5
lab_bg c1 "$LAB_TMP/c1.log" "$B/ztna-connector" --intermediate "$IMD:4433" --pki "$LAB_TMP/pki/connector-c1" \
	--name c1 --token tc --service "slow=tcp:$ZTLAB_IP_c1:7000" --control none --transport udp
declare -A ka=([alice]=20s [bob]=3s) tok=([alice]=ta [bob]=tb)
for h in alice bob; do
	lab_bg $h "$LAB_TMP/$h.log" "$B/ztna-agent" --intermediate "$IMD:4433" --pki "$LAB_TMP/pki/agent-$h" \
		--name $h --token "${tok[$h]}" --forward "tcp:127.0.0.1:8000=slow" --control "$LAB_TMP/$h.sock" \
		--transport udp --keepalive "${ka[$h]}" --keepalive-direct "${ka[$h]}"
done
for h in alice bob; do lab_wait_for "$LAB_TMP/$h.log" "event=connected" 10; done
# at 3 s, one request each, at once; each client prints when it sent, the pong (socat
# ends once it has its 5 bytes) and when that came, waiting up to 60 s
d=$(echo "3 - ($(date +%s.%N) - $t0)" | bc)
[ "${d:0:1}" = - ] || sleep "$d"
for h in alice bob; do
	lab_bg $h "$LAB_TMP/$h.client" bash -c 'date +%s.%N
		echo ping | timeout 60 socat -t 60 - TCP:127.0.0.1:8000,readbytes=5 && date +%s.%N'
	eval "pc_$h=\$LAB_BG"
done
wait "$pc_alice" "$pc_bob" 2>/dev/null
tap_diag "events: $(grep 'event=event' "$LOG" | sed 's/.*action=//' | tr '\n' ' ')"
# how late each pong came after the service's 7 s ("-" when none came)
late() {
	local f=$LAB_TMP/$1.client
	[ "$(sed -n 2p "$f")" = pong ] || { echo -; return; }
	echo "$(sed -n 3p "$f") - $(sed -n 1p "$f") - 7" | bc
}
tap_diag "alice: $(tr "\n" "|" <"$LAB_TMP/alice.client") bob: $(tr "\n" "|" <"$LAB_TMP/bob.client")"
la=$(late alice) lb=$(late bob)
tap_diag "requests at $(echo "$(sed -n 1p "$LAB_TMP/alice.client") - $t0" | bc) s after up; pongs after the service's 7 s: alice +$la s, bob +$lb s"
ok_if "the routers rebooted at 5 s, in the middle of the wait (both events done)" \
	eval '[ "$(grep -c "action=\"nat home[12] flush\" result=done" "$LOG")" = 2 ]'
ok_if "bob (keepalives 3 s): his reply arrives on time despite the reboot (+$lb s, < 1.5)" \
	eval '[ "$lb" != - ] && [ "$(echo "$lb < 1.5" | bc)" = 1 ]'
ok_if "alice (keepalives 20 s): the failure: her reply waits for her next keepalive (+$la s, > 5)" \
	eval '[ "$la" = - ] || [ "$(echo "$la > 5" | bc)" = 1 ]'
# her keepalive comes 20 s after her request (3 s), 13 s after the push: the reply
# must follow it at once, not wait for a later one (+34 s under load before the fix in
# quic/conn.c revive_fire: ngtcp2's backed-off PTO lay past its idle timeout)
ok_if "alice's session recovers at her next keepalive (+$la s, < 18)" \
	eval '[ "$la" != - ] && [ "$(echo "$la < 18" | bc)" = 1 ]'
"$B/ztna" ping slow -c 2 -i 0.3 --timeout 3000 --control "$LAB_TMP/alice.sock" >"$LAB_TMP/ping" 2>&1
ok_if "after it, alice's session answers pings ($(tail -n 1 "$LAB_TMP/ping"))" \
	eval '[ "$(grep -c "^seq=.* via " "$LAB_TMP/ping")" -ge 1 ]'
lab_down
