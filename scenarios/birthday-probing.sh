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
# with --probe off, then half as many times with no --nat-mapping/--nat-ports at all:
# each node detects its NAT after its login (--nat-ports auto: random behind sym_*,
# eim behind prc_*, from each program's nat_detected line; the random side opens its
# spray sockets then, --spray-auto on). Expected: with probing, direct in at least 90 % of the runs of
# each cell (BDAY_MIN runs in the environment to ask for another number; the formula:
# 1 - (1 - 256/64512)^1024 = 98.3 % a run, so 10 runs of a cell give 9 or more with
# p = 0.99, both cells 0.98); with --probe off, relay in every run; detected, every
# detection right and direct in all runs but one of each cell (BDAY_AUTO_RUNS runs,
# BDAY_AUTO_MIN direct to ask for other numbers). Exit 0
# when all hold.
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

# Checks the nat_detected lines of the last RUNS runs (connector on A, agent on B):
# random behind sym_* (and its spray sockets opened), eim behind prc_*. Returns 1 when
# one is wrong.
check_detected() {
	local a=$1 b=$2 runs=$3 r h log want got bad=0
	for ((r = SC_SYS_RUN - runs + 1; r <= SC_SYS_RUN; r++)); do
		for h in "$a" "$b"; do
			log=$LAB_TMP/sys-$r-agent.log
			[ "$h" = "$a" ] && log=$LAB_TMP/sys-$r-conn.log
			want=eim
			[[ $h == *sym ]] && want=random
			got=$(grep -m 1 'event=nat_detected' "$log" 2>/dev/null | grep -o ' nat=[a-z]*' | cut -d= -f2)
			[ "$want" = random ] && ! grep -q 'event=spray_sockets.*reason=nat-detected' "$log" &&
				got="${got:-none}-without-spray-sockets"
			sc_row "nat detected by the program on $h" "$want" "${got:-none}" \
				"$(grep -m 1 -o 'event=nat_detected.*' "$log" 2>/dev/null)" || bad=1
		done
	done
	return $bad
}

CELLS=("a_prc b_sym" "a_sym b_prc")
declare -A RESULT
fails=0
SC_SYS_WAIT=10
for variant in on off auto; do
	runs=$SC_RUNS
	SC_SYS_ARGS=""
	if [ $variant = off ]; then
		SC_SYS_ARGS="--probe off"
		runs=2
	fi
	if [ $variant = auto ]; then
		runs=${BDAY_AUTO_RUNS:-$(((SC_RUNS + 1) / 2))}
		auto_min=${BDAY_AUTO_MIN:-$((runs > 3 ? runs - 1 : runs))}
		# nothing said: the programs detect their NATs (--nat-ports auto); the random
		# side opens its spray sockets then (--spray-auto on)
		for h in a_prc a_sym b_prc b_sym; do SC_HOST_ARGS[$h]=""; done
		SC_SYS_ARGS="--spray-auto on"
		sc_say "probing on, no --nat-mapping/--nat-ports (each node detects its NAT):"
	else
		sc_say "probing $variant (connector on side A, agent on side B):"
	fi
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
		elif [ $variant = auto ]; then
			RESULT[$variant,$cell]="$PAIR_DIRECT/$runs direct, median ${med} ms"
			ok=$((PAIR_DIRECT >= auto_min))
			check_detected "$a" "$b" "$runs" || { ok=0; RESULT[$variant,$cell]+=", detection wrong"; }
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
printf '  %-26s %-36s %-32s %s\n' "" "probing (expected: direct)" "--probe off (expected: relay)" \
	"detected (expected: direct)"
for cell in "${CELLS[@]}"; do
	read -r a b <<<"$cell"
	printf '  %-26s %-36s %-32s %s\n' "${a#a_} x ${b#b_} ($a, $b)" "${RESULT[on,$cell]}" \
		"${RESULT[off,$cell]}" "${RESULT[auto,$cell]}"
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
	sc_say "verdict: PASS - both cells direct in enough runs with probing, relay without, direct with detection, 4/4 hosts classified, in $((t_end - t_start)) s"
	exit 0
fi
sc_say "verdict: FAIL - $fails cell(s) off their expectation, $class_fails classification(s) wrong ($((t_end - t_start)) s)"
exit 1
