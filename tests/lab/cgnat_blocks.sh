#!/bin/bash
# CGNAT port blocks (scenarios/lab/cgnat-blocks.lab, nat key 'block N'): each subscriber's
# mappings stay in its own block, and the NAT keeps its type.
#
#   [ public 203.0.113.0/24 ]  server stun .10 .11 (udp-echo; ztna stun-server), peer .20
#     +-- nat cgn  (port-restricted, block 1024)  -- alice (1024-2047), bob (2048-3071)
#     +-- nat scgn (symmetric, block 8192)        -- carol (1024-9215)
#
# Checks: alice's mapping is endpoint-independent and in her block, so are those of four
# fresh sockets; bob's are in his; carol gets a new port per destination, all in hers;
# the CGN still filters by address and port; `ztna discover` classifies both NATs as
# configured.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh
. scenarios/lib.sh

N=7
lab_require $N
tap_plan $N

S1=203.0.113.10 S2=203.0.113.11
if ! lab_up scenarios/lab/cgnat-blocks.lab; then
	for ((i = 0; i < N; i++)); do tap_fail "lab up"; done
	exit 0
fi
lab_bg stun "$LAB_TMP/echo.out" "$ZTLAB" udp-echo --bind $S1:3478 --bind $S1:3479 --bind $S2:3478
lab_wait_for "$LAB_TMP/echo.out" "listening $S2:3478"

mapped() { kv "$(probe "$1" --local "$2" --to "$3" -w 1000)" mapped; }
# in_block LO HI MAPPING...: every mapping's port within LO..HI, on the NAT's address
in_block() {
	local lo=$1 hi=$2 m p
	shift 2
	for m in "$@"; do
		p=$(port_of "$m")
		[[ $p =~ ^[0-9]+$ ]] && [ "$p" -ge "$lo" ] && [ "$p" -le "$hi" ] || return 1
	done
}

# neighbours first (a loaded machine's first ARP can outlast a probe)
for h in alice bob carol; do probe $h --local 4999 --to $S1:3478 -w 1000 >/dev/null; done

a1=$(mapped alice 5000 $S1:3478) a2=$(mapped alice 5000 $S2:3478) a3=$(mapped alice 5000 $S1:3479)
ok_if "alice: one mapping for every destination (EIM) in her block 1024-2047: $a1 $a2 $a3" \
	eval 'test "$a1" = "$a2" -a "$a1" = "$a3" -a "$(ip_of "$a1")" = 203.0.113.1 && in_block 1024 2047 "$a1"'
fresh=()
for p in 5001 5002 5003 5004; do fresh+=("$(mapped alice $p $S1:3478)"); done
ok_if "alice: four fresh sockets, four ports, all in 1024-2047: ${fresh[*]}" \
	eval 'in_block 1024 2047 "${fresh[@]}" && [ "$(printf "%s\n" "${fresh[@]}" | sort -u | wc -l)" = 4 ]'
b=()
for p in 5000 5001 5002; do b+=("$(mapped bob $p $S1:3478)"); done
ok_if "bob: his mappings in his block 2048-3071: ${b[*]}" in_block 2048 3071 "${b[@]}"
c1=$(mapped carol 5000 $S1:3478) c2=$(mapped carol 5000 $S2:3478) c3=$(mapped carol 5000 $S1:3479)
ok_if "carol (symmetric): a new port per destination, all in 1024-9215: $c1 $c2 $c3" \
	eval 'test "$c1" != "$c2" -a "$c1" != "$c3" -a "$c2" != "$c3" && in_block 1024 9215 "$c1" "$c2" "$c3"'
r=$(kv "$(probe alice --local 5010 --to $S1:3478 --reply-from $S1:3479 -w 300)" received)
ok_if "the CGN still filters by address and port: an answer from another port is dropped ($r)" test "$r" = 0

# ztna discover (RFC 5780) behind each: the type is the configured one
kill "$LAB_BG" 2>/dev/null
wait "$LAB_BG" 2>/dev/null
lab_bg stun "$LAB_TMP/stun.log" "$ZTNA" stun-server --primary "$S1" --alternate "$S2"
lab_wait_for "$LAB_TMP/stun.log" "event=listening" || tap_diag "stun-server: $(cat "$LAB_TMP/stun.log")"
for h in alice carol; do
	out=$(lab_x $h "$ZTNA" discover --server $S1 --json --timeout 1)
	want=port-restricted
	[ $h = carol ] && want=symmetric
	got=$(json_get "$out" type)
	[ "$got" = "$want" ] || tap_diag "$out"
	ok_if "ztna discover behind $h's CGN: $got (configured $want)" test "$got" = "$want"
done
lab_down
