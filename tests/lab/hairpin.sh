#!/bin/bash
# Hairpinning on and off (RFC 4787 s6, REQ-9), and ztna-lab flush.
#
#   [ public 203.0.113.0/24 ]
#     +-- server stun  203.0.113.10              udp-echo on :3478
#     +-- nat home (hairpin on)   wan 203.0.113.1
#     |   +-- host alice, host bob
#     +-- nat office (hairpin off) wan 203.0.113.2
#         +-- host carol, host dave
#
# bob and dave learn their public mappings from the echo; alice and carol send to
# their neighbour's public mapping. alice uses bob's inside port too, so the NAT must
# give her another public port: the hairpinned packet must arrive with that port as
# its source (the sender's public mapping), not with her inside port.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh

lab_require 10
tap_plan 10

S1=203.0.113.10

if ! lab_up scenarios/lab/hairpin.lab; then
	for ((i = 0; i < 10; i++)); do tap_fail "lab up"; done
	exit 0
fi
lab_bg stun "$LAB_TMP/stun.out" "$ZTLAB" udp-echo --bind $S1:3478
lab_wait_for "$LAB_TMP/stun.out" listening

lab_bg bob "$LAB_TMP/bob.out" "$ZTLAB" udp-echo --bind 6000 --hello $S1:3478 --log
lab_wait_for "$LAB_TMP/bob.out" "^mapped " && mb=$(sed -n 's/^mapped //p' "$LAB_TMP/bob.out")
ma=$(kv "$(probe alice --local 6000 --to $S1:3478 -w 300)" mapped)
tap_diag "bob's mapping $mb, alice's mapping $ma (both inside port 6000)"
ok_if "alice and bob share inside port 6000: alice gets another public port" \
	test "$mb" = "$ZTLAB_WAN_home:6000" -a "$(ip_of "$ma")" = "$ZTLAB_WAN_home" -a "$ma" != "$mb"

r=$(probe alice --local 6000 --to "$mb" -w 500)
ok_if "hairpin on: alice reaches bob at his public mapping $mb" test "$(kv "$r" received)" = 1
seen=$(kv "$r" mapped)
ok_if "hairpin on: bob sees alice at her public mapping $ma (saw $seen)" test "$seen" = "$ma"
ok_if "hairpin on: the answer comes back from bob's public mapping" test "$(kv "$r" from)" = "$mb"
r=$(probe alice --local 6001 --to "$ZTLAB_IP_bob:6000" -w 300)
ok_if "neighbours on one lan reach each other directly" test "$(kv "$r" received)" = 1

# ztna-lab flush: the NAT forgets bob's mapping (learned map and conntrack)
out=$("$ZTLAB" flush "$LAB" home 2>&1)
ok_if "flush succeeds ($out)" test $? = 0 -a -z "$out"
r=$(probe alice --local 6002 --to "$mb" -w 300)
ok_if "after flush, bob's old public mapping no longer reaches him" test "$(kv "$r" received)" = 0

lab_bg dave "$LAB_TMP/dave.out" "$ZTLAB" udp-echo --bind 6000 --hello $S1:3478
lab_wait_for "$LAB_TMP/dave.out" "^mapped " && md=$(sed -n 's/^mapped //p' "$LAB_TMP/dave.out")
r=$(probe carol --local 7000 --to $S1:3478 -w 300)
ok_if "hairpin off: carol reaches the public echo" test "$(kv "$r" received)" = 1
r=$(probe carol --local 7000 --to "$md" -w 300)
ok_if "hairpin off: carol does not reach dave at his public mapping $md" test "$(kv "$r" received)" = 0
r=$(probe carol --local 7001 --to "$ZTLAB_IP_dave:6000" -w 300)
ok_if "hairpin off: carol still reaches dave at his inside address" test "$(kv "$r" received)" = 1
