#!/bin/bash
# Port prediction in the namespace lab (docs/hard-nat.md): the three cells plain ICE
# leaves on the relay, with symmetric NATs that allocate ports in sequence.
#
#   [ public 203.0.113.0/24 ]
#     +-- server stun 203.0.113.10, .11    ztna stun-server (RFC 5780), ztna-intermediate
#     +-- nat prc_a (port-restricted)         +-- host a_prc   side A: connectors
#     +-- nat seq_a (symmetric, sequential)   +-- host a_seq
#     +-- nat prc_b (port-restricted)         +-- host b_prc   side B: agents
#     +-- nat seq_b (symmetric, sequential)   +-- host b_seq
#
# Brings up scenarios/lab/sequential-nat.lab, runs ztna discover on every host (the
# type must be the configured one; the port pattern, sequential behind seq_*, is what
# an operator reads to set --nat-ports sequential, and the script passes it the same
# way), then runs the full system (Intermediate, connector on a_X, agent on b_Y, 4 KB
# echoed and two pings) for PRC x SYM, SYM x PRC and SYM x SYM, first with port
# prediction (expected: direct in every run) and then with --predict off on both
# programs (expected: relay in every run, as RFC 4787 and DESIGN.md's table say).
# Theory per cell comes from the simulator on the same lab file (ztna-sim --theory,
# with --predict off for the second table). Prints both tables; exit 0 only when
# every run agrees. Everything it creates is removed on exit and on Ctrl-C.
#
#   sudo ./scenarios/sequential-nat.sh [--runs N] [--no-build] [-v]
. "$(dirname "$0")/lib.sh"
SC_RUNS=3
sc_main_setup "$@"
if [ "$SC_MODE" != system ]; then
	echo "$0: port prediction needs the full system (--mode system)" >&2
	exit 2
fi

SC_NAME="port prediction, sequential symmetric NATs"
sc_say "== $SC_NAME =="
t_start=$(date +%s)
sc_lab "$SC_ROOT/scenarios/lab/sequential-nat.lab" || exit 2
sc_stun || exit 2
sc_say "expected: every host classified as its NAT's type, ports sequential behind seq_a"
sc_say "and seq_b; with prediction every cell direct in every run; with --predict off"
sc_say "every cell on the relay (carrying the echo). $SC_RUNS run(s) per cell."
sc_say ""

sc_say "classification (ztna discover against ztna stun-server):"
sc_classify_all a_prc a_seq b_prc b_seq
for h in a_prc a_seq b_prc b_seq; do
	ports=$(json_get "$(cat "$LAB_TMP/disc-$h.json")" ports)
	want=preserve
	[[ $h == *seq ]] && want=sequential
	SC_ROW_FORCE=1 sc_row "ztna discover ports on $h" "$want" "$ports"
	# as an operator would configure the host after reading 'ports='
	[ "$ports" = sequential ] && SC_HOST_ARGS[$h]="--nat-ports sequential"
done
sc_say ""

CELLS=("a_prc b_seq" "a_seq b_prc" "a_seq b_seq")
declare -A RESULT
for variant in on off; do
	SC_SYS_ARGS=""
	theory_args=()
	if [ $variant = off ]; then
		SC_SYS_ARGS="--predict off"
		theory_args=(--predict off)
	fi
	sc_say "prediction $variant (connector on side A, agent on side B):"
	for cell in "${CELLS[@]}"; do
		read -r a b <<<"$cell"
		read -r want ta tb < <("$ZTSIM" --scenario "$SC_LAB_FILE" --session "$a,$b,stun" --theory \
			"${theory_args[@]}")
		sc_pair_expect "$a" "$b" "$want" "$(short_type "$ta")" "$(short_type "$tb")"
		med=$(sc_median "${PAIR_MS_ALL[@]}")
		if [ "$want" = direct ]; then
			RESULT[$variant,$cell]="$PAIR_DIRECT/$SC_RUNS direct, median ${med} ms"
		else
			RESULT[$variant,$cell]="$((SC_RUNS - PAIR_DIRECT))/$SC_RUNS relay"
		fi
		[ "$PAIR_AGREE" -ne "$SC_RUNS" ] && RESULT[$variant,$cell]="${RESULT[$variant,$cell]} !!"
		printf '  %-24s %-8s %s  (last run: %s)\n' "$a <-> $b" "$want" \
			"${RESULT[$variant,$cell]}" "$PAIR_NOTE"
	done
	sc_say ""
done
t_end=$(date +%s)

sc_say "port prediction in the lab (rows: the cell, connector x agent; time: first ICE"
sc_say "start to the direct path, median):"
printf '  %-26s %-34s %s\n' "" "prediction on (theory: direct)" "--predict off (theory: relay)"
for cell in "${CELLS[@]}"; do
	read -r a b <<<"$cell"
	printf '  %-26s %-34s %s\n' "${a#a_} x ${b#b_} ($a, $b)" "${RESULT[on,$cell]}" "${RESULT[off,$cell]}"
done
sc_say ""
if [ "$SC_FAILS" -eq 0 ]; then
	sc_say "verdict: PASS - $((6 * SC_RUNS)) runs agree (3 cells x 2 variants x $SC_RUNS), 4/4 hosts classified, in $((t_end - t_start)) s"
	exit 0
fi
sc_say "disagreements:"
for r in "${SC_ROWS[@]}"; do
	IFS='|' read -r what want got verdict note <<<"$r"
	[ "$verdict" = FAIL ] && printf '  %s: expected %s, saw %s (%s)\n' "$what" "$want" "$got" "$note"
done
sc_say "verdict: FAIL - $SC_FAILS row(s) disagree ($((t_end - t_start)) s)"
exit 1
