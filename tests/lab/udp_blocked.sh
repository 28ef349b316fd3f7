#!/bin/bash
# A firewall that drops all UDP: no UDP gets out or in, TCP still does.
#
#   [ public 203.0.113.0/24 ]
#     +-- server stun  203.0.113.10      udp-echo :3478, TCP service :8080 (socat)
#     +-- nat office (port-restricted, udp block)
#         +-- host alice
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh

lab_require 4
tap_plan 4

S1=203.0.113.10
if ! lab_up scenarios/lab/udp-blocked.lab; then
	for ((i = 0; i < 4; i++)); do tap_fail "lab up"; done
	exit 0
fi
lab_bg stun "$LAB_TMP/stun.out" "$ZTLAB" udp-echo --bind $S1:3478
lab_wait_for "$LAB_TMP/stun.out" listening
r=$(probe alice --local 5000 --to $S1:3478 --count 3 --interval 50 -w 300)
ok_if "alice's UDP to the public echo gets no answer" test "$(kv "$r" received)" = 0
r=$(lab_x stun "$ZTLAB" udp-probe --quiet --to "$S1:3478" -w 300 | grep summary)
ok_if "the echo itself works (answers on its own host)" test "$(kv "$r" received)" = 1
out=$(lab_x office nft list chain ip ztlab forward)
first=$(echo "$out" | sed -n '/type filter hook/{n;p;q}' | tr -d '\t')
ok_if "the office firewall's first forward rule drops UDP ('$first')" test "$first" = "meta l4proto udp drop"
if command -v socat >/dev/null; then
	lab_bg stun "$LAB_TMP/tcp.out" socat TCP4-LISTEN:8080,bind=$S1,reuseaddr,fork SYSTEM:'echo tcp-ok'
	for ((i = 0; i < 100; i++)); do
		got=$(lab_x alice socat -T 2 - TCP4:$S1:8080 </dev/null 2>/dev/null)
		[ "$got" = tcp-ok ] && break
		sleep 0.05
	done
	ok_if "TCP still passes the firewall (got '$got')" test "$got" = tcp-ok
else
	tap_skip "TCP still passes the firewall" "socat is not installed (tools/deps.sh lab)"
fi
