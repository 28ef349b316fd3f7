#!/bin/bash
# NAT classification across implementations: for each of the four NAT types, behind
# its NAT in scenarios/lab/nat-matrix.lab,
#   ztna discover                   against coturn's turnserver,
#   coturn's turnutils_natdiscovery against ztna stun-server,
# must name the configured type. (coturn against coturn is nat_coturn.sh, ztna
# against ztna matrix.sh.) turnserver runs STUN-only (--stun-only with an explicit
# --alt-listening-port, which makes coturn 4.6.1 open all four RFC 5780 sockets) on
# the two public addresses of the server 'stun', ports 3478/3479; ztna stun-server
# on 3490/3491.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh
. scenarios/lib.sh

lab_require 9
tap_plan 9

if ! command -v turnserver >/dev/null || ! command -v turnutils_natdiscovery >/dev/null; then
	for ((i = 0; i < 9; i++)); do tap_skip "cross classification" "coturn is not installed (tools/deps.sh lab)"; done
	exit 0
fi
if ! QUIET=1 sc_lab scenarios/lab/nat-matrix.lab; then
	for ((i = 0; i < 9; i++)); do tap_fail "lab up"; done
	exit 0
fi
S=$ZTLAB_IP_stun
if sc_coturn stun 3478; then
	tap_ok "turnserver runs STUN-only on $S and $ZTLAB_IP2_stun, ports 3478/3479"
else
	tap_fail "turnserver runs STUN-only on $S and $ZTLAB_IP2_stun, ports 3478/3479"
fi
lab_bg stun "$LAB_TMP/ztna-stun.log" "$ZTNA" stun-server --primary "$S:3490" --alternate "$ZTLAB_IP2_stun:3491"
lab_wait_for "$LAB_TMP/ztna-stun.log" "event=listening" || tap_diag "ztna stun-server: $(cat "$LAB_TMP/ztna-stun.log")"

# the two checks per host run one after another, the four hosts in parallel
hosts=(a_fc a_arc a_prc a_sym)
jobs_=()
for h in "${hosts[@]}"; do
	(
		lab_x "$h" "$ZTNA" discover --server "$S:3478" --json --timeout 1 >"$LAB_TMP/$h.zc" 2>&1
		sc_coturn_classify "$h" "$S" 3490 >"$LAB_TMP/$h.cz"
	) &
	jobs_+=($!)
done
for j in "${jobs_[@]}"; do wait "$j"; done

for h in "${hosts[@]}"; do
	want=$(sc_effective_type "$h")
	out=$(cat "$LAB_TMP/$h.zc")
	got=$(json_get "$out" type)
	[ "$got" = "$want" ] || tap_diag "$out"
	ok_if "ztna discover + coturn server on $h: $got (configured $want)" test "$got" = "$want"
done
for h in "${hosts[@]}"; do
	want=$(sc_effective_type "$h")
	got=$(cat "$LAB_TMP/$h.cz")
	ok_if "coturn client + ztna stun-server on $h: $got (configured $want)" test "$got" = "$want"
done
