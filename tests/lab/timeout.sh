#!/bin/bash
# The mapping timeout is honoured: a mapping answers inbound packets while it is
# younger than the configured timeout and is gone once the timeout has passed
# without traffic; a NAT with the default timeout (120 s) still answers then.
#
#   [ public 203.0.113.0/24 ]
#     +-- server stun  203.0.113.10, 203.0.113.11
#     +-- nat prc  (port-restricted, timeout 3)   +-- host a
#     +-- nat fc   (full-cone, timeout 3)         +-- host b
#     +-- nat slow (port-restricted, timeout 120) +-- host c
#
# a, b and c each open a mapping with one packet to .10:3478 (udp-echo --hello) and
# then only listen. The stun host probes their mappings 1.5 s later and again 4.5 s
# after that (prc and slow from .10:3478, the endpoint they sent to; fc from
# .11, which only a full cone lets in).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh

lab_require 9
tap_plan 9

S1=203.0.113.10 S2=203.0.113.11 T=3
cat >"$LAB_TMP/timeout.lab" <<EOF
public 203.0.113.0/24
server stun addr $S1 addr $S2
nat prc type port-restricted lan 192.168.1.0/24 timeout $T
host a behind prc
nat fc type full-cone lan 192.168.2.0/24 timeout $T
host b behind fc
nat slow type port-restricted lan 192.168.3.0/24
host c behind slow
EOF
if ! lab_up "$LAB_TMP/timeout.lab"; then
	for ((i = 0; i < 9; i++)); do tap_fail "lab up"; done
	exit 0
fi

for nat in prc fc; do
	v=$(lab_x $nat cat /proc/sys/net/netfilter/nf_conntrack_udp_timeout \
		/proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream | tr '\n' ' ')
	ok_if "$nat: conntrack UDP timeouts in its namespace are $T $T (got $v)" test "$v" = "$T $T "
done

lab_bg stun "$LAB_TMP/stun.out" "$ZTLAB" udp-echo --bind $S1:3478
echo_pid=$LAB_BG
lab_wait_for "$LAB_TMP/stun.out" listening
for h in a b c; do
	lab_bg $h "$LAB_TMP/$h.out" "$ZTLAB" udp-echo --bind 5000 --hello $S1:3478
done
for h in a b c; do
	lab_wait_for "$LAB_TMP/$h.out" "^mapped "
done
t0=$(date +%s.%N)
ma=$(sed -n 's/^mapped //p' "$LAB_TMP/a.out")
mb=$(sed -n 's/^mapped //p' "$LAB_TMP/b.out")
mc=$(sed -n 's/^mapped //p' "$LAB_TMP/c.out")
# the stun side now sends from the echo's own endpoint: stop the echo
kill "$echo_pid"
wait "$echo_pid" 2>/dev/null

sleep 1.5
r=$(probe stun --local $S1:3478 --to "$ma" -w 300)
ok_if "prc: mapping $ma answers 1.5 s after the last packet (timeout ${T} s)" test "$(kv "$r" received)" = 1
r=$(probe stun --local $S2:4000 --to "$mb" -w 300)
ok_if "fc: mapping $mb lets another address in 1.5 s after (timeout ${T} s)" test "$(kv "$r" received)" = 1
r=$(probe stun --local $S1:3478 --to "$mc" -w 300)
ok_if "slow: mapping $mc answers 1.5 s after (timeout 120 s)" test "$(kv "$r" received)" = 1

# every mapping was refreshed by those answers: wait the timeout and 1.5 s more
sleep $((T + 1)).5
tap_diag "second round $(echo "$(date +%s.%N) - $t0" | bc) s after the hellos"
r=$(probe stun --local $S1:3478 --to "$ma" -w 300)
ok_if "prc: mapping $ma is gone $((T + 1)).5 s after its last packet" test "$(kv "$r" received)" = 0
r=$(probe stun --local $S2:4001 --to "$mb" -w 300)
ok_if "fc: mapping $mb is gone $((T + 1)).5 s after its last packet" test "$(kv "$r" received)" = 0
r=$(probe stun --local $S1:3478 --to "$mc" -w 300)
ok_if "slow: mapping $mc still answers (timeout 120 s)" test "$(kv "$r" received)" = 1
lines=$(lab_x fc nft list map ip ztlab mapping | grep -c expires)
ok_if "fc: its learned-mapping map is empty again" test "$lines" = 0
