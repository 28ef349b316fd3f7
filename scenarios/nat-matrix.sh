#!/bin/bash
# The 4x4 NAT matrix: do an agent and a connector behind NATs of every pair of RFC
# 4787 types get a direct path? Compared with theory (DESIGN.md): yes everywhere
# except symmetric x port-restricted, port-restricted x symmetric and symmetric x
# symmetric, where the session stays on the relay (and must carry traffic there).
#
#   [ public 203.0.113.0/24 ]
#     +-- server stun 203.0.113.10, .11    ztna stun-server (RFC 5780)
#     +-- nat fc_a  (full-cone)          +-- host a_fc       side A (rows)
#     +-- nat arc_a (address-restricted) +-- host a_arc
#     +-- nat prc_a (port-restricted)    +-- host a_prc
#     +-- nat sym_a (symmetric)          +-- host a_sym
#     +-- nat fc_b  ... sym_b            +-- host b_fc ... b_sym   side B (columns)
#
# Builds what it needs, brings up scenarios/lab/nat-matrix.lab, classifies all eight
# hosts with ztna discover (each must equal its NAT's type), then for every cell runs
# the full system --runs times (default 3): ztna-intermediate on the server 'stun', a
# ztna-connector on a_X fronting an echo service, a ztna-agent on b_Y forwarding to
# it; the agent's log and `ztna status` give the path (direct or relay) and the time
# to direct, and 4 KB echoed plus two `ztna ping`s check that the path carries
# traffic. With --mode punch, only `ztna punch` with the reflexive addresses passed
# by the script. Prints the matrix (runs on the expected path, median time to
# direct), the disagreements and a one-line verdict; exit 0 only at 100 % agreement.
# Everything it creates is removed on exit and on Ctrl-C.
#
# --udp-blocked: the same 16 pairs with every NAT dropping all UDP (nat ... udp
# block): every host classifies as udp-blocked, and every cell must connect over
# TLS/TCP to the Intermediate (both ends: ztna status transport=tcp) and carry the
# traffic: on the TCP direct path (simultaneous open, docs/tcp-transport.md) where
# both NATs map TCP endpoint-independently - every lab type but symmetric, the 9 cone
# cells -, on the relay in the 7 cells with a symmetric side.
#
#   sudo ./scenarios/nat-matrix.sh [--runs N] [--mode system|punch] [--udp-blocked] [--no-build] [-v]
. "$(dirname "$0")/lib.sh"
SC_RUNS=3
SC_ROW_QUIET=1
UDPB=0
args=()
for a in "$@"; do
	if [ "$a" = --udp-blocked ]; then UDPB=1; else args+=("$a"); fi
done
sc_main_setup "${args[@]}"

TYPES=(full-cone address-restricted port-restricted symmetric)
SHORT=(fc arc prc sym)
SC_NAME="NAT matrix"
t_start=$(date +%s)

if [ "$SC_MODE" = system ]; then
	sc_say "== NAT matrix: the full system between every pair of NAT types, $SC_RUNS run(s) per cell =="
else
	sc_say "== NAT matrix: hole punching between every pair of NAT types, $SC_RUNS run(s) per cell =="
fi
LAB_FILE=$SC_ROOT/scenarios/lab/nat-matrix.lab
if [ $UDPB = 1 ]; then
	SC_NAME="NAT matrix, UDP blocked"
	sc_say "(--udp-blocked: every NAT drops all UDP; expected: over TLS/TCP, direct (tcp) between"
	sc_say " cone NATs, on the relay with a symmetric side)"
	LAB_FILE=$LAB_TMP/nat-matrix-udp-blocked.lab
	sed -e '/^nat /s/$/ udp block/' -e 's/^lab nat_matrix$/lab nat_matrix_udpb/' \
		"$SC_ROOT/scenarios/lab/nat-matrix.lab" >"$LAB_FILE"
	SC_SYS_TRANSPORT=tcp
fi
sc_lab "$LAB_FILE" || exit 2
sc_stun || exit 2

sc_say "classification (ztna discover against ztna stun-server; must equal the configured type):"
sc_classify_all a_fc a_arc a_prc a_sym b_fc b_arc b_prc b_sym
class_fails=$SC_FAILS
sc_say ""

sc_say "pairs (a line per cell, connector on a_X, agent on b_Y; -v shows every run):"
declare -A CELL
MEDIANS=()
cell_fails=0
for i in 0 1 2 3; do
	for j in 0 1 2 3; do
		a=a_${SHORT[$i]} b=b_${SHORT[$j]}
		if [ $UDPB = 1 ]; then
			# TCP: every lab NAT maps endpoint-independently but symmetric ones
			want=relay
			[ $i -lt 3 ] && [ $j -lt 3 ] && want=direct-tcp
			sc_pair_expect "$a" "$b" "$want" "$(short_type "${TYPES[$i]}")" "$(short_type "${TYPES[$j]}")"
		else
			want=$(sc_theory "$a" "$b")
			sc_pair "$a" "$b"
		fi
		mark=""
		[ "$want" = relay ] && mark="*"
		[ "$PAIR_AGREE" -ne "$SC_RUNS" ] && { mark="$mark !!"; cell_fails=$((cell_fails + 1)); }
		CELL[$i,$j]="$PAIR_DIRECT/$SC_RUNS direct$mark"
		if [ "$SC_MODE" = system ]; then
			med=$(sc_median "${PAIR_MS_ALL[@]}")
			if [ "$want" = relay ]; then
				CELL[$i,$j]="$((SC_RUNS - PAIR_DIRECT))/$SC_RUNS relay$mark"
			elif [ "$want" = direct-tcp ]; then
				CELL[$i,$j]="$PAIR_DIRECT/$SC_RUNS tcp ${med} ms$mark"
			else
				CELL[$i,$j]="$PAIR_DIRECT/$SC_RUNS direct ${med} ms$mark"
			fi
			MEDIANS+=("${SHORT[$i]}x${SHORT[$j]}=$med")
		fi
		printf '  %-26s %-8s %s\n' "$a <-> $b" "$want" "${CELL[$i,$j]}  (last run: $PAIR_NOTE)"
	done
done
t_end=$(date +%s)

sc_say ""
if [ "$SC_MODE" = system ]; then
	sc_say "NAT matrix: the full system, runs on the expected path and the median time to direct"
	sc_say "(rows: NAT of the connector, columns: NAT of the agent)"
else
	sc_say "NAT matrix: runs with a direct UDP path by hole punching (rows: NAT of A, columns: NAT of B)"
fi
sc_say ""
printf '  %-20s%-22s%-22s%-22s%s\n' "" "${TYPES[@]}"
for i in 0 1 2 3; do
	printf '  %-20s%-22s%-22s%-22s%s\n' "${TYPES[$i]}" "${CELL[$i,0]}" "${CELL[$i,1]}" \
		"${CELL[$i,2]}" "${CELL[$i,3]}"
done
sc_say ""
if [ "$SC_MODE" = system ]; then
	sc_say "  legend: N/M direct X ms = the session went direct in N of M runs, median time"
	sc_say "  from the first ICE start to the direct path X ms; N/M relay (cells marked *,"
	sc_say "  where theory says no direct path exists) = it stayed on the relay and carried"
	sc_say "  the traffic in N of M runs. '!!' marks a cell that disagrees."
	[ $UDPB = 1 ] && sc_say "  N/M tcp X ms = on the TCP direct path in N of M runs, X ms from the first ping's answer."
else
	sc_say "  legend: N/M direct = a direct path in N of M runs. Expected (RFC 4787, DESIGN.md):"
	sc_say "  M/M direct in every cell except those marked *, where no direct path can exist"
	sc_say "  (0/M direct: the full system uses the relay). '!!' marks a cell that disagrees."
fi
if [ "$SC_FAILS" -gt 0 ]; then
	sc_say ""
	sc_say "disagreements:"
	for r in "${SC_ROWS[@]}"; do
		IFS='|' read -r what want got verdict note <<<"$r"
		[ "$verdict" = FAIL ] && printf '  %s: expected %s, saw %s (%s)\n' "$what" "$want" "$got" "$note"
	done
fi
sc_say ""
total=$((16 * SC_RUNS))
if [ "$SC_FAILS" -eq 0 ]; then
	sc_say "verdict: PASS - $total/$total runs (16 cells x $SC_RUNS, mode $SC_MODE) agree with RFC 4787 theory (100 %), 8/8 hosts classified as configured, in $((t_end - t_start)) s"
	[ "$SC_MODE" = system ] && sc_say "median time to direct (ms): ${MEDIANS[*]}"
	exit 0
fi
sc_say "verdict: FAIL - $cell_fails of 16 cells disagree with theory, $class_fails of 8 hosts misclassified ($((t_end - t_start)) s)"
exit 1
