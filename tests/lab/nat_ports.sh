#!/bin/bash
# The symmetric NAT's port allocation patterns (scenarios/lab/nat-ports.lab), seen
# three ways: by `ztna discover` behind each NAT, by a server's echo of fresh sockets'
# mappings, and by conntrack in the NAT's namespace.
#
#   [ public 203.0.113.0/24 ]
#     +-- server stun  203.0.113.10, .11   ztna stun-server (RFC 5780), udp-echo .10:3490
#     +-- nat nrand  (symmetric, ports random)                 --  host hrand
#     +-- nat nseq   (symmetric, ports sequential, timeout 5)  --  host hseq
#     +-- nat npres  (symmetric, ports preserve)               --  host hpres
#
# Also the mapping lifetime: discover --lifetime brackets nseq's 5 s timeout and says
# npres's cannot be measured (a port-preserving NAT re-creates the same mapping).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh
. scenarios/lib.sh

N=12
lab_require $N
tap_plan $N

SCN=scenarios/lab/nat-ports.lab

S1=203.0.113.10 S2=203.0.113.11
if ! lab_up $SCN; then
	for ((i = 0; i < N; i++)); do tap_fail "lab up"; done
	exit 0
fi

# 1
ok_if "env: ports of nrand, nseq, npres: $ZTLAB_PORTS_nrand $ZTLAB_PORTS_nseq $ZTLAB_PORTS_npres" \
	test "$ZTLAB_PORTS_nrand/$ZTLAB_PORTS_nseq/$ZTLAB_PORTS_npres" = random/sequential/preserve

lab_bg stun "$LAB_TMP/stun.log" "$ZTNA" stun-server --primary "$S1" --alternate "$S2"
lab_wait_for "$LAB_TMP/stun.log" "event=listening" || tap_diag "stun-server: $(cat "$LAB_TMP/stun.log")"
lab_bg stun "$LAB_TMP/echo.out" "$ZTLAB" udp-echo --bind $S1:3490 --bind $S2:3490
lab_wait_for "$LAB_TMP/echo.out" "listening $S2:3490"

# 2-6: discover behind each NAT, at once (nseq and npres also try the lifetime)
lab_bg hrand "$LAB_TMP/hrand.json" "$ZTNA" discover --server $S1 --json --timeout 1
p1=$LAB_BG
lab_bg hseq "$LAB_TMP/hseq.json" "$ZTNA" discover --server $S1 --json --timeout 1 --lifetime --lifetime-max 10s
p2=$LAB_BG
lab_bg hpres "$LAB_TMP/hpres.json" "$ZTNA" discover --server $S1 --json --timeout 1 --lifetime --lifetime-max 10s
p3=$LAB_BG
wait $p1 $p2 $p3
for h in hrand hseq hpres; do
	out=$(cat "$LAB_TMP/$h.json")
	nat=${h/h/n}
	want=$(eval echo "\$ZTLAB_PORTS_$nat")
	got="$(json_get "$out" type) $(json_get "$out" ports)"
	[ "$got" = "symmetric $want" ] || tap_diag "$out"
	ok_if "discover on $h: '$got' (configured: symmetric, ports $want)" test "$got" = "symmetric $want"
done
out=$(cat "$LAB_TMP/hseq.json")
alive=$(json_get "$out" lifetime_alive_ms) gone=$(json_get "$out" lifetime_gone_ms)
[ "$(json_get "$out" lifetime)" = measured ] && [ "$alive" -lt 5000 ] && [ "$gone" -ge 5000 ] &&
	[ "$gone" -le 6000 ] && [ $((gone - alive)) -le 700 ]
ok_rc $? "discover --lifetime on hseq: $(json_get "$out" lifetime) by $(json_get "$out" lifetime_method), alive after $alive ms, gone after $gone ms (timeout 5 s)"
out=$(cat "$LAB_TMP/hpres.json")
ok_if "discover --lifetime on hpres: $(json_get "$out" lifetime) (a port-preserving symmetric NAT)" \
	test "$(json_get "$out" lifetime)" = not-measurable

# fresh N: N probes from fresh sockets of host $1 to $S1:3490; prints the mapped ports
fresh() {
	local i r
	for ((i = 0; i < $2; i++)); do
		r=$(probe "$1" --to $S1:3490 --count 1 -w 500)
		port_of "$(kv "$r" mapped)"
	done | tr '\n' ' '
}

# ct_local NAT PORT: the inside port of the conntrack entry whose public port is PORT
ct_local() {
	lab_x "$1" conntrack -L -p udp 2>/dev/null |
		awk -v p="$2" '{ for (i = 1; i <= NF; i++) if ($i == "dport=" p) { split($6, a, "="); print a[2] } }' |
		head -n 1
}

# 7-8: sequential: 5 fresh sockets get consecutive ports, as conntrack has them
read -r -a ports <<<"$(fresh hseq 5)"
steps=ok
for ((i = 1; i < ${#ports[@]}; i++)); do
	[ "${ports[i]}" = $((ports[i - 1] + 1)) ] || steps=no
done
ok_if "nseq: 5 fresh sockets mapped to consecutive ports: ${ports[*]}" test ${#ports[@]} = 5 -a $steps = ok
locals=()
for p in "${ports[@]}"; do locals+=("$(ct_local nseq "$p")"); done
[ ${#locals[@]} = 5 ] && [ -n "${locals[4]}" ] && [ "${locals[0]}" != "${ports[0]}" ]
ok_rc $? "nseq's conntrack: inside ports ${locals[*]} -> public ${ports[*]}"

# 9-10: preserve: the inside port when free, another one for a second destination (EDM)
m1=$(kv "$(probe hpres --local 40001 --to $S1:3490 -w 500)" mapped)
m2=$(kv "$(probe hpres --local 40001 --to $S2:3490 -w 500)" mapped)
[ "$(port_of "$m1")" = 40001 ] && [ "$(port_of "$m2")" != 40001 ] && [ "$(port_of "$m2")" != - ]
ok_rc $? "npres: local port 40001 appears as $m1 to $S1, as $m2 to $S2"
ok_if "npres's conntrack: inside 40001 -> public 40001 ($(ct_local npres 40001))" \
	test "$(ct_local npres 40001)" = 40001

# 11: random: fresh sockets keep neither their port nor a sequence
read -r -a ports <<<"$(fresh hrand 4)"
pattern=random
for ((i = 1; i < ${#ports[@]}; i++)); do
	d=$((ports[i] - ports[i - 1]))
	[ $d -ge 1 ] && [ $d -le 8 ] && pattern=sequential-ish
	[ "$(ct_local nrand "${ports[i]}")" = "${ports[i]}" ] && pattern=preserved
done
ok_if "nrand: 4 fresh sockets mapped to ${ports[*]}: $pattern" test ${#ports[@]} = 4 -a $pattern = random

# 12: down removes everything
prefix=$ZTLAB_PREFIX
lab_down
ok_if "after down no namespace $prefix* is left" test "$(ip netns list | grep -c "^$prefix")" = 0
