#!/bin/bash
# Birthday probing in the namespace lab (docs/hard-nat.md): port-restricted x
# symmetric with random ports, both ways round, which plain ICE leaves on the relay.
#
#   [ public 203.0.113.0/24 ]
#     +-- server stun 203.0.113.10, .11    ztna stun-server (RFC 5780), ztna-intermediate
#     +-- nat prc_a (port-restricted)         +-- host a_prc   side A: connectors
#     +-- nat sym_a (symmetric, random)       +-- host a_sym
#     +-- nat prc_b (port-restricted)         +-- host b_prc   side B: agents
#     +-- nat sym_b (symmetric, random)       +-- host b_sym
#
# Brings up scenarios/lab/birthday.lab, runs ztna discover on every host (type as
# configured; its 'mapping' and 'ports' are what an operator copies into
# --nat-mapping and --nat-ports, and the script passes them the same way: the
# symmetric side then opens 256 sockets to spray from, the port-restricted side
# probes), then the full system (Intermediate, connector on a_X, agent on b_Y, 4 KB
# echoed and two pings) --runs times per cell (default 10) with probing, and twice
# with --probe off. Expected: with probing, direct in at least 90 % of the runs of
# each cell (BDAY_MIN runs in the environment to ask for another number; the formula:
# 1 - (1 - 256/64512)^1024 = 98.3 % a run, so 10 runs of a cell give 9 or more with
# p = 0.99, both cells 0.98); with --probe off, relay in every run. Exit 0 when both
# hold.
# Everything it creates is removed on exit and on Ctrl-C.
#
#   sudo ./scenarios/birthday-probing.sh [--runs N] [--no-build] [-v]
. "$(dirname "$0")/lib.sh"
SC_RUNS=10
sc_main_setup "$@"
if [ "$SC_MODE" != system ]; then
	echo "$0: birthday probing needs the full system (--mode system)" >&2
	exit 2
fi

SC_NAME="birthday probing, symmetric NATs with random ports"
sc_say "== $SC_NAME =="
t_start=$(date +%s)
sc_lab "$SC_ROOT/scenarios/lab/birthday.lab" || exit 2
sc_stun || exit 2
sc_say "expected: every host classified as its NAT's type; with probing each cell direct in"
sc_say "at least ${BDAY_MIN:-$(((SC_RUNS * 9 + 9) / 10))} of $SC_RUNS runs; with --probe off every run on the relay."
sc_say ""

sc_say "classification (ztna discover against ztna stun-server):"
sc_classify_all a_prc a_sym b_prc b_sym
for h in a_prc a_sym b_prc b_sym; do
	out=$(cat "$LAB_TMP/disc-$h.json")
	mapping=$(json_get "$out" mapping) ports=$(json_get "$out" ports)
	want=random
	[[ $h == *prc ]] && want=preserve
	SC_ROW_FORCE=1 sc_row "ztna discover ports on $h" "$want" "$ports" "mapping $mapping"
	# as an operator would configure the host after reading 'mapping' and 'ports'
	SC_HOST_ARGS[$h]="--nat-mapping $mapping --nat-ports $ports"
done
sc_say ""

CELLS=("a_prc b_sym" "a_sym b_prc")
declare -A RESULT
fails=0
SC_SYS_WAIT=10
for variant in on off; do
	runs=$SC_RUNS
	SC_SYS_ARGS=""
	if [ $variant = off ]; then
		SC_SYS_ARGS="--probe off"
		runs=2
	fi
	sc_say "probing $variant (connector on side A, agent on side B):"
	for cell in "${CELLS[@]}"; do
		read -r a b <<<"$cell"
		want=direct
		[ $variant = off ] && want=relay
		SC_RUNS_SAVED=$SC_RUNS
		SC_RUNS=$runs
		sc_pair_expect "$a" "$b" "$want" "$([[ $a == *prc ]] && echo PRC || echo SYM)" \
			"$([[ $b == *prc ]] && echo PRC || echo SYM)"
		SC_RUNS=$SC_RUNS_SAVED
		med=$(sc_median "${PAIR_MS_ALL[@]}")
		if [ $variant = on ]; then
			RESULT[$variant,$cell]="$PAIR_DIRECT/$runs direct, median ${med} ms"
			ok=$((PAIR_DIRECT >= ${BDAY_MIN:-$(((runs * 9 + 9) / 10))}))
		else
			RESULT[$variant,$cell]="$((runs - PAIR_DIRECT))/$runs relay"
			ok=$((PAIR_DIRECT == 0))
		fi
		[ $ok = 1 ] || { RESULT[$variant,$cell]="${RESULT[$variant,$cell]} !!"; fails=$((fails + 1)); }
		printf '  %-24s %-8s %s  (last run: %s)\n' "$a <-> $b" "$want" \
			"${RESULT[$variant,$cell]}" "$PAIR_NOTE"
	done
	sc_say ""
done
t_end=$(date +%s)

sc_say "birthday probing in the lab (rows: the cell, connector x agent; time: first ICE"
sc_say "start to the direct path, median):"
printf '  %-26s %-36s %s\n' "" "probing (expected: direct)" "--probe off (expected: relay)"
for cell in "${CELLS[@]}"; do
	read -r a b <<<"$cell"
	printf '  %-26s %-36s %s\n' "${a#a_} x ${b#b_} ($a, $b)" "${RESULT[on,$cell]}" "${RESULT[off,$cell]}"
done
sc_say ""
# the per-run rows of a cell may disagree (a run that stayed on the relay is allowed
# within the 90 %); the classification rows must not
class_fails=0
for r in "${SC_ROWS[@]}"; do
	IFS='|' read -r what want got verdict note <<<"$r"
	[[ $what == "ztna discover"* ]] && [ "$verdict" = FAIL ] && class_fails=$((class_fails + 1))
done
if [ $fails -eq 0 ] && [ $class_fails -eq 0 ]; then
	sc_say "verdict: PASS - both cells direct in enough runs with probing, relay without, 4/4 hosts classified, in $((t_end - t_start)) s"
	exit 0
fi
sc_say "verdict: FAIL - $fails cell(s) off their expectation, $class_fails classification(s) wrong ($((t_end - t_start)) s)"
exit 1
