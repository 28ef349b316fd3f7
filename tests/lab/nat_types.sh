#!/bin/bash
# Each NAT type's mapping and filtering behaviour, with real UDP packets.
#
#   [ public 203.0.113.0/24 ]
#     +-- server stun  203.0.113.10, .11   udp-echo on .10:3478, .10:3479, .11:3478
#     +-- server peer  203.0.113.20        a third party
#     +-- nat home (TYPE)  wan 203.0.113.1
#         +-- host alice  192.168.1.2
#
# Mapping (RFC 4787 s4.1): alice sends from one port to .10:3478, .11:3478, .10:3479;
# EIM keeps one public endpoint, EDM (symmetric) gives three. Filtering (s5): alice
# asks the echo to answer from another port, from another address, and a third host
# sends to her mapping. Also the double NAT file, and docs/lab.md pitfall 1 (an early
# unsolicited packet must not steal the inside host's port).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh

lab_require 32
tap_plan 32

S1=203.0.113.10 S2=203.0.113.11 PEER=203.0.113.20

start_echoes() {
	lab_bg stun "$LAB_TMP/stun.out" "$ZTLAB" udp-echo --bind $S1:3478 --bind $S1:3479 --bind $S2:3478
	lab_wait_for "$LAB_TMP/stun.out" "listening $S2:3478"
	lab_bg peer "$LAB_TMP/peer.out" "$ZTLAB" udp-echo --bind $PEER:3478
	lab_wait_for "$LAB_TMP/peer.out" "listening"
}

# got NAME SUMMARY WANT: WANT is "reply" or "none"
got() {
	local r
	r=$(kv "$2" received)
	if { [ "$3" = reply ] && [ "$r" != 0 ] && [ "$r" != - ]; } || { [ "$3" = none ] && [ "$r" = 0 ]; }; then
		tap_ok "$1"
	else
		tap_fail "$1" "expected $3, probe said: $2"
	fi
}

for type in full-cone address-restricted port-restricted symmetric; do
	if ! lab_up "scenarios/lab/$type.lab"; then
		for i in 1 2 3 4 5 6; do tap_fail "$type: lab up"; done
		continue
	fi
	start_echoes
	wan=$ZTLAB_WAN_home
	# neighbours resolved first (alice -> gw, NAT -> servers), from a port of its own:
	# on a loaded machine the first probe's ARP can outlast its 300 ms wait
	probe alice --local 4999 --to $S1:3478 -w 1000 >/dev/null
	probe alice --local 4999 --to $S2:3478 -w 1000 >/dev/null

	m1=$(kv "$(probe alice --local 5000 --to $S1:3478 -w 300)" mapped)
	m2=$(kv "$(probe alice --local 5000 --to $S2:3478 -w 300)" mapped)
	m3=$(kv "$(probe alice --local 5000 --to $S1:3479 -w 300)" mapped)
	tap_diag "$type: mappings for :5000 -> $S1:3478 $m1, $S2:3478 $m2, $S1:3479 $m3"
	ok_if "$type: alice appears with the NAT's wan address $wan" \
		test "$(ip_of "$m1")" = "$wan" -a "$(ip_of "$m2")" = "$wan" -a "$(ip_of "$m3")" = "$wan"
	if [ "$type" = symmetric ]; then
		ok_if "$type: a new public port per destination address and per port (EDM)" \
			test "$m1" != "$m2" -a "$m1" != "$m3" -a "$m2" != "$m3"
	else
		ok_if "$type: one public port for every destination (EIM), the inside port kept" \
			test "$m1" = "$wan:5000" -a "$m2" = "$m1" -a "$m3" = "$m1"
	fi

	got "$type: the answer from the address and port sent to arrives" \
		"$(probe alice --local 5001 --to $S1:3478 -w 300)" reply
	want=none
	[ "$type" = full-cone ] || [ "$type" = address-restricted ] && want=reply
	got "$type: an answer from another port of the same address: $want" \
		"$(probe alice --local 5002 --to $S1:3478 --reply-from $S1:3479 -w 300)" $want
	want=none
	[ "$type" = full-cone ] && want=reply
	got "$type: an answer from another address: $want" \
		"$(probe alice --local 5003 --to $S1:3478 --reply-from $S2:3478 -w 300)" $want

	# a host alice never talked to sends to her mapping. Twice (CI under ASan, and once
	# here) the echo printed nothing at all for 15 s, not even 'listening': its start
	# (ztna-lab exec: setns, a private /sys) was held up, maybe behind the kernel's
	# clean-up of the lab just taken down; it gets 30 s to start, and its state is
	# shown if it does not
	mapped=
	lab_bg alice "$LAB_TMP/alice.out" "$ZTLAB" udp-echo --bind 5004 --hello $S1:3478
	lab_wait_for "$LAB_TMP/alice.out" "^listening " 30 ||
		tap_diag "alice's echo (pid $LAB_BG) did not start: $(grep -E '^(State|Name)' /proc/$LAB_BG/status 2>/dev/null | tr '\n' ' ') wchan $(cat /proc/$LAB_BG/wchan 2>/dev/null)"
	lab_wait_for "$LAB_TMP/alice.out" "^mapped " 15 && mapped=$(sed -n 's/^mapped //p' "$LAB_TMP/alice.out")
	# an answer is waited for up to 1 s (300 ms was short under load: 1-2 in 32 runs
	# missed it); an absence needs no more than 300 ms
	if [ -z "$mapped" ]; then
		tap_fail "$type: a third host reaching alice's mapping: $want" \
			"alice's hello to $S1:3478 got no answer in 15 s: $(tr '\n' '|' <"$LAB_TMP/alice.out")"
	else
		got "$type: a third host reaching alice's mapping $mapped: $want" \
			"$(probe peer --local 4000 --to "$mapped" -w "$([ $want = reply ] && echo 1000 || echo 300)")" $want
	fi
	kill "$LAB_BG" 2>/dev/null
	lab_down
done

# docs/lab.md pitfall 1: the peer's packet arrives before alice ever sent to the peer.
# Without the input-hook drop it would create a conntrack entry whose reply tuple is
# the one alice's flow needs, and masquerade would move alice to another port.
if lab_up scenarios/lab/port-restricted.lab; then
	wan=$ZTLAB_WAN_home
	early=$(probe peer --local 7000 --to "$wan:6000" -w 200)
	got "early unsolicited packet to $wan:6000 is dropped" "$early" none
	lab_bg peer "$LAB_TMP/peer.out" "$ZTLAB" udp-echo --bind $PEER:7000
	lab_wait_for "$LAB_TMP/peer.out" "listening"
	m=$(kv "$(probe alice --local 6000 --to $PEER:7000 -w 300)" mapped)
	ok_if "after it, alice's flow to that peer still gets $wan:6000 (got $m)" test "$m" = "$wan:6000"
	lab_down
else
	tap_fail "pitfall 1: lab up"
	tap_fail "pitfall 1: lab up"
fi

# Double NAT: a full cone behind a port-restricted CGN behaves as the stricter one.
if lab_up scenarios/lab/double-nat.lab; then
	start_echoes
	m1=$(kv "$(probe alice --local 5000 --to $S1:3478 -w 300)" mapped)
	m2=$(kv "$(probe alice --local 5000 --to $S2:3478 -w 300)" mapped)
	tap_diag "double NAT: $m1 $m2 (cgn wan $ZTLAB_WAN_cgn, home wan $ZTLAB_WAN_home)"
	ok_if "double NAT: alice appears with the CGN's address $ZTLAB_PUBLIC_IP_alice" \
		test "$(ip_of "$m1")" = "$ZTLAB_PUBLIC_IP_alice" -a "$ZTLAB_PUBLIC_IP_alice" = "$ZTLAB_WAN_cgn"
	ok_if "double NAT: the mapping is endpoint-independent through both NATs" test "$m1" = "$m2"
	got "double NAT: the answer from the address and port sent to arrives" \
		"$(probe alice --local 5001 --to $S1:3478 -w 300)" reply
	got "double NAT: an answer from another port is filtered by the CGN" \
		"$(probe alice --local 5002 --to $S1:3478 --reply-from $S1:3479 -w 300)" none
	got "double NAT: an answer from another address is filtered" \
		"$(probe alice --local 5003 --to $S1:3478 --reply-from $S2:3478 -w 300)" none
	# the inner NAT alone is a full cone: a host on the CGN's lan side sees that
	ok_if "double NAT: home's own wan address is on the CGN's lan ($ZTLAB_WAN_home)" \
		test "$ZTLAB_BEHIND_home" = cgn
	lab_down
else
	for i in 1 2 3 4 5 6; do tap_fail "double NAT: lab up"; done
fi
