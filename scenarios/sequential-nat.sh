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
# prediction (expected: direct in every run), then with --predict off on both
# programs (expected: relay in every run, as RFC 4787 and docs/design.md's table say), then
# with no --nat-ports at all: each node detects its NAT after its login (--nat-ports
# auto, the Intermediate's STUN port; expected: sequential behind seq_*, eim behind
# prc_*, from each program's nat_detected log line, and direct in every run).
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

# What host H's program (its log L) detected: nat=eim|sequential|random|unknown, or
# "none" without a nat_detected line.
detected() {
	local got
	got=$(grep -m 1 'event=nat_detected' "$1" 2>/dev/null | grep -o ' nat=[a-z]*' | cut -d= -f2)
	echo "${got:-none}"
}

# Checks the nat_detected lines of the last SC_RUNS runs of cell A B; returns 1 when one
# is not what the host's NAT is (sequential behind seq_*, eim behind prc_*).
check_detected() {
	local a=$1 b=$2 r h log want got bad=0
	for ((r = SC_SYS_RUN - SC_RUNS + 1; r <= SC_SYS_RUN; r++)); do
		for h in "$a" "$b"; do
			log=$LAB_TMP/sys-$r-agent.log
			[ "$h" = "$a" ] && log=$LAB_TMP/sys-$r-conn.log
			want=eim
			[[ $h == *seq ]] && want=sequential
			got=$(detected "$log")
			sc_row "nat detected by the program on $h" "$want" "$got" \
				"$(grep -m 1 -o 'event=nat_detected.*' "$log" 2>/dev/null)" || bad=1
		done
	done
	return $bad
}

CELLS=("a_prc b_seq" "a_seq b_prc" "a_seq b_seq")
declare -A RESULT
declare -A OPERATOR_ARGS=()
for h in "${!SC_HOST_ARGS[@]}"; do OPERATOR_ARGS[$h]=${SC_HOST_ARGS[$h]}; done
for variant in on off auto; do
	SC_SYS_ARGS=""
	theory_args=()
	if [ $variant = off ]; then
		SC_SYS_ARGS="--predict off"
		theory_args=(--predict off)
	fi
	if [ $variant = auto ]; then
		# nothing said: the programs detect their NATs (--nat-ports auto)
		for h in "${!OPERATOR_ARGS[@]}"; do SC_HOST_ARGS[$h]=""; done
		sc_say "prediction on, no --nat-ports (each node detects its NAT):"
	else
		sc_say "prediction $variant (connector on side A, agent on side B):"
	fi
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
		if [ $variant = auto ] && ! check_detected "$a" "$b"; then
			RESULT[$variant,$cell]="${RESULT[$variant,$cell]}, detection wrong !!"
		elif [ "$PAIR_AGREE" -ne "$SC_RUNS" ]; then
			RESULT[$variant,$cell]="${RESULT[$variant,$cell]} !!"
		fi
		printf '  %-24s %-8s %s  (last run: %s)\n' "$a <-> $b" "$want" \
			"${RESULT[$variant,$cell]}" "$PAIR_NOTE"
	done
	sc_say ""
done
t_end=$(date +%s)

sc_say "port prediction in the lab (rows: the cell, connector x agent; time: first ICE"
sc_say "start to the direct path, median):"
printf '  %-26s %-34s %-34s %s\n' "" "prediction on (theory: direct)" "--predict off (theory: relay)" \
	"detected, no --nat-ports (direct)"
for cell in "${CELLS[@]}"; do
	read -r a b <<<"$cell"
	printf '  %-26s %-34s %-34s %s\n' "${a#a_} x ${b#b_} ($a, $b)" "${RESULT[on,$cell]}" \
		"${RESULT[off,$cell]}" "${RESULT[auto,$cell]}"
done
sc_say ""
if [ "$SC_FAILS" -eq 0 ]; then
	sc_say "verdict: PASS - $((9 * SC_RUNS)) runs agree (3 cells x 3 variants x $SC_RUNS), 4/4 hosts classified, $((6 * SC_RUNS)) detections right, in $((t_end - t_start)) s"
	exit 0
fi
sc_say "disagreements:"
for r in "${SC_ROWS[@]}"; do
	IFS='|' read -r what want got verdict note <<<"$r"
	[ "$verdict" = FAIL ] && printf '  %s: expected %s, saw %s (%s)\n' "$what" "$want" "$got" "$note"
done
sc_say "verdict: FAIL - $SC_FAILS row(s) disagree ($((t_end - t_start)) s)"
exit 1
