#!/bin/bash
# Dual-stack lab segments (scenarios/lab/dual-stack.lab, docs/lab.md "IPv6"): the
# 4x4 matrix's eight NATs each also route an IPv6 /64 to their lan (no NAT66) behind
# a stateful IPv6 firewall (RFC 6092).
#
#   [ public 203.0.113.0/24, 2001:db8:100::/48 ]
#     +-- server stun  203.0.113.10, .11, 2001:db8:100::10  (routes to every lan6)
#     +-- nat fc_a  (full-cone)  wan .1, 2001:db8:100::1  lan6 2001:db8:1:1::/64, fw6 endpoint-independent
#     |   +-- host a_fc  10.1.1.2, 2001:db8:1:1::2
#     +-- ... arc_a (a_arc's link MTU 1280) prc_a sym_a (lan6 2001:db8:1:2..4::/64), fc_b (fw6 open),
#         arc_b prc_b sym_b (2001:db8:2:2..4::/64): default fw6 address-and-port
#
# UDP over IPv6 through tests/lib/udp6.py (the lab's udp-probe is IPv4-only): a host's
# global address and default route; the server sees the host's own address and port;
# an unsolicited datagram is dropped and counted, a reply from another port of the
# server too, the reply from the address:port the host sent to passes; simultaneous
# sends between hosts behind two symmetric (IPv4) NATs get through over IPv6; the fw6
# variants; ICMPv6 Packet Too Big (path MTU) let in; IPv4 as before; ztna discover (IPv4) in a dual-stack namespace; a v4-only
# lab keeps IPv6 off. About 20 s.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh

lab_require 22
tap_plan 22
U=$PWD/tests/lib/udp6.py
ZTNA=${ZTNA:-${BUILD:-build}/ztna}

fail_all() {
	while [ "$TAP_N" -lt 22 ]; do tap_fail "$1" "see the diagnostics above"; done
	exit 0
}

# The packet count of NAT's IPv6 drop rule (wan -> lan).
drops6() {
	ip netns exec "$(eval echo "\$ZTLAB_NS_$1")" nft list chain ip6 ztlab6 forward |
		sed -n 's/.*oifname "lan" counter packets \([0-9]*\) .*drop.*/\1/p'
}

# punch_pair A B PORT: A and B send to each other at the same time; both must hear.
punch_pair() {
	local a=$1 b=$2 port=$3 ra rb ipa ipb
	ipa=$(eval echo "\$ZTLAB_IP6_$a")
	ipb=$(eval echo "\$ZTLAB_IP6_$b")
	lab_bg "$b" "$LAB_TMP/punch-$b.out" "$U" punch "$ipa" "$port" "$port" 5
	lab_x "$a" "$U" punch "$ipb" "$port" "$port" 5 >"$LAB_TMP/punch-$a.out" 2>&1
	ra=$?
	wait "$LAB_BG"
	rb=$?
	tap_diag "$a: $(tr '\n' ' ' <"$LAB_TMP/punch-$a.out")/ $b: $(tr '\n' ' ' <"$LAB_TMP/punch-$b.out")"
	ok_if "simultaneous UDP over IPv6 $a <-> $b (IPv4 NATs $(eval echo "\$ZTLAB_TYPE_$(eval echo "\$ZTLAB_BEHIND_$a")") x $(eval echo "\$ZTLAB_TYPE_$(eval echo "\$ZTLAB_BEHIND_$b")")): both hear the other" \
		test "$ra" = 0 -a "$rb" = 0
}

lab_up scenarios/lab/dual-stack.lab || fail_all "lab up"
tap_ok "dual-stack.lab up ($ZTLAB_PUBLIC_NET, $ZTLAB_PUBLIC_NET6)"

# --- addresses and routes
addrs=$(lab_x a_sym ip -6 -o addr show dev eth0 scope global)
ok_if "a_sym has its global address $ZTLAB_IP6_a_sym/64 from sym_a's lan6 $ZTLAB_LAN6_sym_a" \
	grep -q "inet6 $ZTLAB_IP6_a_sym/64" <<<"$addrs"
ok_if "a_sym's IPv6 default route is via its router $ZTLAB_GW6_a_sym" \
	grep -q "^default via $ZTLAB_GW6_a_sym dev eth0" <<<"$(lab_x a_sym ip -6 route)"
routes=$(lab_x stun ip -6 route)
n=$(grep -c "^2001:db8:[12]:[1-4]::/64 via 2001:db8:100::[1-8] dev eth0" <<<"$routes")
ok_if "the server routes each of the 8 lan6 prefixes to its router ($n), and has no default route" \
	test "$n" = 8 -a -z "$(grep '^default' <<<"$routes")"

# --- host to server: no NAT66
lab_bg stun "$LAB_TMP/echo6.out" "$U" echo 4000
sleep 0.3
ans=$(lab_x a_sym "$U" ask "$ZTLAB_IP6_stun" 4000 5000)
tap_diag "a_sym -> [$ZTLAB_IP6_stun]:4000 from :5000: $ans"
ok_if "a_sym reaches the server over IPv6, which sees a_sym's own address and port (no NAT66)" \
	test "$ans" = "from $ZTLAB_IP6_a_sym 5000"

# --- the stateful firewall (default: address-and-port-dependent)
d0=$(drops6 sym_b)
lab_bg b_sym "$LAB_TMP/unsol.out" "$U" listen 7300 1.5
sleep 0.4
lab_x stun "$U" send "$ZTLAB_IP6_b_sym" 7300 7301
wait "$LAB_BG"
d1=$(drops6 sym_b)
ok_if "an unsolicited datagram from the server to [$ZTLAB_IP6_b_sym]:7300 does not arrive" \
	test ! -s "$LAB_TMP/unsol.out"
ok_if "... and sym_b's IPv6 drop rule counted it ($d0 -> $d1)" test "${d1:-0}" -gt "${d0:-0}"

d0=$(drops6 prc_b)
lab_bg b_prc "$LAB_TMP/apdf.out" "$U" listen 7000 1.5 "$ZTLAB_IP6_stun" 7200
sleep 0.4
lab_x stun "$U" send "$ZTLAB_IP6_b_prc" 7000 7201
lab_x stun "$U" send "$ZTLAB_IP6_b_prc" 7000 7200
wait "$LAB_BG"
d1=$(drops6 prc_b)
tap_diag "b_prc heard: $(tr '\n' ' ' <"$LAB_TMP/apdf.out")"
ok_if "after b_prc sent from :7000 to the server's :7200, the server's :7200 reaches it" \
	grep -q "got $ZTLAB_IP6_stun 7200" "$LAB_TMP/apdf.out"
ok_if "... but not the server's :7201 (address-and-port-dependent filtering), counted ($d0 -> $d1)" \
	test -z "$(grep ' 7201$' "$LAB_TMP/apdf.out")" -a "${d1:-0}" -gt "${d0:-0}"

# --- simultaneous sends between hosts behind two routers, like hole punching
punch_pair a_sym b_sym 6000
punch_pair a_prc b_sym 6001
punch_pair b_prc a_sym 6002

# --- path MTU: a_arc's link has MTU 1280; arc_a answers a 1400-byte datagram with an
# ICMPv6 Packet Too Big, which sym_b's firewall lets in as related to b_sym's flow
lab_x b_sym "$U" send "$ZTLAB_IP6_a_arc" 7000 7700 1400
r=$(lab_x b_sym ip -6 route get "$ZTLAB_IP6_a_arc")
tap_diag "b_sym's route to a_arc after a 1400-byte datagram: $r"
ok_if "ICMPv6 Packet Too Big passes sym_b's firewall: b_sym learned path MTU 1280 to a_arc" \
	grep -q " mtu 1280 " <<<"$r"

# --- fw6 endpoint-independent (fc_a) and open (fc_b)
lab_bg a_fc "$LAB_TMP/eif.out" "$U" listen 7400 1.5 "$ZTLAB_IP6_stun" 7500
lab_bg a_fc "$LAB_TMP/eif2.out" "$U" listen 7401 1.5
sleep 0.4
lab_x stun "$U" send "$ZTLAB_IP6_a_fc" 7400 7501
lab_x stun "$U" send "$ZTLAB_IP6_a_fc" 7401 7501
sleep 1.3
ok_if "fw6 endpoint-independent: after a_fc sent from :7400 (to :7500), the server's :7501 reaches it" \
	grep -q "got $ZTLAB_IP6_stun 7501" "$LAB_TMP/eif.out"
ok_if "fw6 endpoint-independent: a port a_fc never sent from (:7401) stays closed" \
	test ! -s "$LAB_TMP/eif2.out"
lab_bg b_fc "$LAB_TMP/open.out" "$U" listen 7600 1.5
sleep 0.4
lab_x stun "$U" send "$ZTLAB_IP6_b_fc" 7600 7601
wait "$LAB_BG"
ok_if "fw6 open: an unsolicited datagram reaches b_fc" grep -q "got $ZTLAB_IP6_stun 7601" "$LAB_TMP/open.out"
ok_if "ztna-lab flush resets fc_a (conntrack of both families, the eif6 set)" \
	"$ZTLAB" flush "$LAB" fc_a

# --- IPv4 as before
lab_bg stun "$LAB_TMP/echo4.out" "$ZTLAB" udp-echo --bind "$ZTLAB_IP_stun:4478"
lab_wait_for "$LAB_TMP/echo4.out" "listening" >/dev/null
m=$(kv "$(probe a_sym --local 5000 --to "$ZTLAB_IP_stun:4478" -w 300)" mapped)
ok_if "IPv4: a_sym appears with sym_a's wan address $ZTLAB_WAN_sym_a ($m)" test "$(ip_of "$m")" = "$ZTLAB_WAN_sym_a"
d0=$(kv "$(probe b_sym --local 5001 --to "$ZTLAB_IP_stun:4478" -w 300 --reply-from "$ZTLAB_IP_stun:4478")" received)
ok_if "IPv4: b_sym's probe through its symmetric NAT is answered ($d0)" test "$d0" != 0 -a "$d0" != -

# --- ztna discover (IPv4 only) in a dual-stack namespace
lab_bg stun "$LAB_TMP/stun.out" "$ZTNA" stun-server --primary "$ZTLAB_IP_stun" --alternate "$ZTLAB_IP2_stun"
lab_wait_for "$LAB_TMP/stun.out" "event=listening" >/dev/null
out=$(lab_x a_sym "$ZTNA" discover --server "$ZTLAB_IP_stun" --timeout 1 2>&1)
tap_diag "discover a_sym: $(head -3 <<<"$out" | tr '\n' ' ')"
ok_if "ztna discover in a dual-stack host still classifies its IPv4 NAT (symmetric)" \
	grep -qi "symmetric" <<<"$out"

# --- where IPv6 is on
ok_if "IPv6 on in the dual-stack hosts, routers and public segment" test \
	"$(lab_x a_sym cat /proc/sys/net/ipv6/conf/all/disable_ipv6)$(lab_x sym_a cat /proc/sys/net/ipv6/conf/all/forwarding)$(lab_x public cat /proc/sys/net/ipv6/conf/all/disable_ipv6)" = 010
lab_down
if lab_up scenarios/lab/symmetric.lab; then
	ok_if "a lab without public6 keeps IPv6 off (alice: disable_ipv6=1, no ip6 table in home)" test \
		"$(lab_x alice cat /proc/sys/net/ipv6/conf/all/disable_ipv6)$(lab_x home nft list tables | grep -c ip6)" = 10
else
	tap_fail "symmetric.lab up"
fi
