#!/bin/bash
# 'icmp drop' on a NAT (scenarios/lab/icmp-filtered.lab): behind 'strict' no ICMP passes
# either way, behind 'open' (same type, no option) it does; UDP passes both.
#   ping:          alice -> echo answered; bob -> echo not
#   unreachable:   a connected UDP socket sending to a closed port on echo gets
#                  ECONNREFUSED behind open (the ICMP port unreachable came back) and
#                  a timeout behind strict
#   udp:           probes to the echo's udp-echo answered from both
#   counter:       strict's ruleset counted the dropped ICMP
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh

lab_require 7
tap_plan 7

E=198.51.100.10
if ! lab_up scenarios/lab/icmp-filtered.lab; then
	for ((i = 0; i < 7; i++)); do tap_fail "lab up"; done
	exit 0
fi
lab_bg echo "$LAB_TMP/echo.out" "$ZTLAB" udp-echo --bind $E:7
lab_wait_for "$LAB_TMP/echo.out" listening

lab_x alice ping -c 2 -W 1 -q $E >"$LAB_TMP/ping-a" 2>&1
ok_rc $? "open: alice's ping to the echo server is answered"
lab_x bob ping -c 2 -W 1 -q $E >"$LAB_TMP/ping-b" 2>&1
rc=$?
tap_diag "strict: $(tr '\n' ' ' <"$LAB_TMP/ping-b")"
ok_if "strict: bob's ping gets no answer (exit $rc)" test "$rc" -ne 0

refused() { # refused NODE: what a connected UDP socket to a closed port sees
	lab_x "$1" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.5)
s.connect(("198.51.100.10", 9))
try:
    s.send(b"x"); s.recv(100); print("answer")
except ConnectionRefusedError:
    print("refused")
except socket.timeout:
    print("timeout")' 2>&1
}
a=$(refused alice) b=$(refused bob)
ok_if "open: UDP to a closed port is refused (ICMP port unreachable came back: $a)" test "$a" = refused
ok_if "strict: UDP to a closed port times out (the ICMP error was dropped: $b)" test "$b" = timeout

r1=$(probe alice --to $E:7 --count 3 -w 500) r2=$(probe bob --to $E:7 --count 3 -w 500)
ok_if "UDP passes both NATs ($(kv "$r1" received)/3, $(kv "$r2" received)/3)" \
	test "$(kv "$r1" received)" -ge 2 -a "$(kv "$r2" received)" -ge 2

n=$(lab_x strict nft list ruleset 2>/dev/null | grep -o 'icmp counter packets [0-9]*' | grep -o '[0-9]*$')
ok_if "strict's ruleset counted the dropped ICMP (${n:-none} packets)" test "${n:-0}" -ge 3
lab_x open nft list ruleset 2>/dev/null | grep -q "icmp counter"
rc=$?
ok_if "open has no ICMP rule" test "$rc" -ne 0
