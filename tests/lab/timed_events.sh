#!/bin/bash
# Timed events in a scenario file ('at TIME ...' lines, scenarios/lab/timed-events.lab),
# each phase seen by UDP probes from alice to an echo on the public segment, with one
# local port throughout (so the NAT keeps one mapping until it forgets it):
#   0-2 s  plain link: replies, mapping M1, RTT well under 20 ms
#   2-5 s  'link alice delay 20ms': RTT >= 40 ms (both ways), same mapping M1
#   5-9 s  'link alice down': no reply
#   9 s-   'link alice up' + 'nat home flush': replies with the 20 ms delay again and a
#          new mapping (symmetric NAT, random ports: M2 != M1 but for a 1 in ~28k draw)
#   12 s-  'link alice blackhole 1200': 1100-byte probes pass, 1300-byte ones vanish
#          with no error at the sender (the interface MTU is still 1500)
# and the supervisor's log has one line per event, in order, none failed.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh

lab_require 9
tap_plan 9

E=198.51.100.10:7
LOG=$LAB_TMP/supervisor.log
t0=$(date +%s.%N)
if ! lab_up scenarios/lab/timed-events.lab --log "$LOG"; then
	for ((i = 0; i < 9; i++)); do tap_fail "lab up"; done
	exit 0
fi
lab_bg echo "$LAB_TMP/echo.out" "$ZTLAB" udp-echo --bind $E
lab_wait_for "$LAB_TMP/echo.out" listening
since() { echo "$(date +%s.%N) - $t0" | bc; }
# sleep until T seconds after up returned
until_t() { local d; d=$(echo "$1 - $(since)" | bc); [ "${d:0:1}" = "-" ] || sleep "$d"; }
P="--local 40000 --count 5 --interval 50 -w 300"

r1=$(probe alice --to $E $P)
tap_diag "t=$(since)s plain: $r1"
until_t 3.2
r2=$(probe alice --to $E $P)
tap_diag "t=$(since)s delay 20ms: $r2"
until_t 6.5
r3=$(probe alice --to $E $P)
tap_diag "t=$(since)s down: $r3"
until_t 10.5
r4=$(probe alice --to $E $P)
tap_diag "t=$(since)s up, NAT flushed: $r4"
until_t 13.5
r5=$(probe alice --to $E $P --size 1100)
r6=$(probe alice --to $E $P --size 1300 --df)
tap_diag "t=$(since)s blackhole 1200: $r5 / $r6"

m1=$(kv "$r1" mapped) m2=$(kv "$r2" mapped) m4=$(kv "$r4" mapped)
rtt() { local v; v=$(kv "$1" rtt_p50_us); [ "$v" = - ] && echo 0 || echo "${v%.*}"; }
ok_if "before any event: replies ($(kv "$r1" received)/5), RTT p50 $(rtt "$r1") us < 20 ms" \
	test "$(kv "$r1" received)" -ge 4 -a "$(rtt "$r1")" -lt 20000
ok_if "at 2s delay 20ms: RTT p50 $(rtt "$r2") us >= 40 ms, same mapping ($m1, $m2)" \
	test "$(kv "$r2" received)" -ge 4 -a "$(rtt "$r2")" -ge 40000 -a "$m1" = "$m2"
ok_if "at 5s link down: no reply ($(kv "$r3" received)/5)" test "$(kv "$r3" received)" = 0
ok_if "at 9s link up: replies again ($(kv "$r4" received)/5) with the delay set before 'down'" \
	test "$(kv "$r4" received)" -ge 4 -a "$(rtt "$r4")" -ge 40000
ok_if "at 9s nat flush: a new mapping ($m1 -> $m4)" test "$m4" != - -a "$m4" != "$m1"

ok_if "at 12s blackhole 1200: 1100-byte probes pass ($(kv "$r5" received)/5)" \
	test "$(kv "$r5" received)" -ge 4
ok_if "at 12s blackhole 1200: 1300-byte probes vanish without an error ($(kv "$r6" received)/5, send_errors $(kv "$r6" send_errors))" \
	test "$(kv "$r6" received)" = 0 -a "$(kv "$r6" send_errors)" = 0

lab_down
ev=$(grep -o 'event=event at=[^ ]* line=[0-9]* action="[^"]*" result=[a-z]*' "$LOG" | tr '\n' '|')
tap_diag "supervisor: $ev"
want='event=event at=2000ms line=15 action="link alice delay 20ms" result=done|event=event at=5000ms line=16 action="link alice down" result=done|event=event at=9000ms line=17 action="link alice up" result=done|event=event at=9000ms line=18 action="nat home flush" result=done|event=event at=12000ms line=19 action="link alice blackhole 1200" result=done|'
ok_if "the supervisor's log has each event, in order, done" test "$ev" = "$want"
ok_if "ztna-lab up said the events are scheduled" grep -q "event=events count=5 first_at_ms=2000" "$LOG"
