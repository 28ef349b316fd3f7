#!/bin/bash
# How the lab's NATs treat TCP simultaneous open (the technique a TCP direct path would
# use, docs/tcp-transport.md), with real sockets: two hosts behind NATs of the matrix
# lab each connect() from a fixed port to the other's NAT address and that port, at
# the same moment, retrying for a few seconds; socat on both sides.
#
# The lab's NAT types differ for UDP only: for TCP every type masquerades (one public
# port per inside endpoint, kept when free: EIM) with a stateful filter (a packet
# in is let through only as part of a connection that went out first), except
# symmetric, which takes a new random port per destination (EDM). So the expected
# table: simultaneous open works between any two of full-cone, address-restricted and
# port-restricted (each NAT has seen its own SYN to the other's public endpoint when
# the other's SYN arrives, or the later SYN gets through), and fails when either side
# is symmetric (the port its SYN leaves from is not the one the other aims at).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh

PAIRS=("a_prc b_prc yes" "a_fc b_arc yes" "a_arc b_prc yes" "a_prc b_sym no" "a_sym b_fc no"
	"a_sym b_sym no")
lab_require $((${#PAIRS[@]} + 1))
tap_plan $((${#PAIRS[@]} + 1))
if ! command -v socat >/dev/null; then
	for p in "${PAIRS[@]}" x; do tap_skip "TCP simultaneous open: $p" "socat is not installed (tools/deps.sh lab)"; done
	exit 0
fi
if ! lab_up scenarios/lab/nat-matrix.lab; then
	for p in "${PAIRS[@]}" x; do tap_fail "lab up"; done
	exit 0
fi

# the NAT a host sits behind (a_prc -> prc_a)
nat_of() { local h=$1; echo "${h#*_}_${h%%_*}"; }

# One side: up to 8 tries (1 s connect timeout each) from IP:PORT to TO:PORT2; sends
# its name, prints what the other side sent.
side() {
	local node=$1 ip=$2 port=$3 to=$4 port2=$5 name=$6
	lab_x "$node" bash -c "for i in \$(seq 8); do
		out=\$(echo $name | timeout 3 socat -T 2 - TCP4:$to:$port2,bind=$ip:$port,reuseaddr,connect-timeout=1 2>/dev/null)
		[ -n \"\$out\" ] && { echo \"\$out\"; exit 0; }
		sleep 0.1
	done; exit 1"
}

n=0
for p in "${PAIRS[@]}"; do
	read -r a b want <<<"$p"
	n=$((n + 1))
	pa=$((41000 + n)) pb=$((42000 + n))
	ipa=$(eval echo "\$ZTLAB_IP_$a") ipb=$(eval echo "\$ZTLAB_IP_$b")
	wa=$(eval echo "\$ZTLAB_WAN_$(nat_of "$a")") wb=$(eval echo "\$ZTLAB_WAN_$(nat_of "$b")")
	side "$a" "$ipa" $pa "$wb" $pb "from-$a" >"$LAB_TMP/$n.a" 2>&1 &
	ja=$!
	side "$b" "$ipb" $pb "$wa" $pa "from-$b" >"$LAB_TMP/$n.b" 2>&1 &
	jb=$!
	wait $ja
	wait $jb
	got_a=$(cat "$LAB_TMP/$n.a") got_b=$(cat "$LAB_TMP/$n.b")
	works=no
	[ "$got_a" = "from-$b" ] && [ "$got_b" = "from-$a" ] && works=yes
	[ "$works" = "$want" ] &&
		tap_ok "TCP simultaneous open $a <-> $b: $works (expected $want)" ||
		tap_fail "TCP simultaneous open $a <-> $b: $works, expected $want" "a got '$got_a', b got '$got_b'"
done
lab_down
left=$(ip netns list | grep -c "^ztlab-$LAB")
[ "$left" = 0 ] && tap_ok "no namespace left" || tap_fail "namespaces left" "$left"
