#!/bin/bash
# Runs every test suite and ends with the line "N passed, N failed".
#
# Every suite speaks TAP: the cmocka unit tests (CMOCKA_MESSAGE_OUTPUT=TAP) and the
# shell suites under tests/sys (loopback, unprivileged) and tests/lab (namespaces,
# root). A test reported "ok ... # SKIP" counts as skipped, never as passed. A suite
# that crashes or exits non-zero with fewer results than its plan counts every
# missing result as failed.
#
#   tests/run.sh [FILTER]     run suites whose name contains FILTER
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
FILTER=${1:-}
SUITE_TIMEOUT=${SUITE_TIMEOUT:-900}
# Under ASan+UBSan (make test SAN=1, CI's second pass) the full-system NAT matrix runs
# each cell once: that pass looks for memory errors; the first pass checks the paths
# three times per cell.
if [ "${SAN:-}" = 1 ]; then
	export MATRIX_RUNS=${MATRIX_RUNS:-1}
fi
export BUILD ZT_ROOT=$PWD

pass=0 fail=0 skip=0
failures=()
skips=()
logdir=$BUILD/test-logs
mkdir -p "$logdir"

# Suites that mostly wait (an idle window measured in real time: nothing to share the
# machine with but a few keepalives) run in the background from the start, beside the
# others; their results are counted and printed at the end. Each has loopback
# addresses and ports (tests/lib/progs.sh) or namespaces (tests/lib/lab.sh) of its own.
BACKGROUND=" sys/idle_cost lab/idle_nat "
declare -A BG_PID BG_T0

# Counts the results of suite name from its log (rc: its exit status).
tally_suite() {
	local name=$1 rc=$2 t0=$3 t1=$4 log=$5
	local plan=0 ok=0 nok=0 sk=0 seen=0 line
	while IFS= read -r line; do
		case "$line" in
		1..*) plan=${line#1..}; plan=${plan%% *} ;;
		"ok "*"# SKIP"*|"not ok "*"# SKIP"*)
			# cmocka 1.1.5 prints a skip as "not ok N # SKIP name"
			sk=$((sk + 1)); seen=$((seen + 1)); skips+=("$name: ${line#*# SKIP}") ;;
		"not ok"*) nok=$((nok + 1)); seen=$((seen + 1)); failures+=("$name: ${line#not ok }") ;;
		"ok"*) ok=$((ok + 1)); seen=$((seen + 1)) ;;
		esac
	done < "$log"
	if [ "$plan" -gt "$seen" ]; then
		failures+=("$name: $((plan - seen)) test(s) never reported (exit $rc)")
		nok=$((nok + plan - seen))
	elif [ "$rc" -ne 0 ] && [ "$nok" -eq 0 ]; then
		failures+=("$name: exited $rc")
		nok=$((nok + 1))
	fi
	pass=$((pass + ok)) fail=$((fail + nok)) skip=$((skip + sk))
	printf '%-32s %4d ok %3d failed %3d skipped  %6.1fs\n' "$name" "$ok" "$nok" "$sk" \
		"$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
	if [ "$nok" -gt 0 ]; then
		grep -v '^ok' "$log" | tail -n 40 | sed 's/^/    | /'
	fi
}

run_suite() {
	local name=$1; shift
	local log=$logdir/${name////_}.log
	local t0 t1 rc
	[ -n "$FILTER" ] && [[ $name != *"$FILTER"* ]] && return 0
	[[ $BACKGROUND == *" $name "* ]] && [ -n "${BG_T0[$name]:-}" ] && return 0
	t0=$(date +%s.%N)
	CMOCKA_MESSAGE_OUTPUT=TAP timeout -k 10 "$SUITE_TIMEOUT" "$@" >"$log" 2>&1 < /dev/null
	rc=$?
	t1=$(date +%s.%N)
	tally_suite "$name" "$rc" "$t0" "$t1" "$log"
}

# Starts background suite name (a script) now.
start_background() {
	local name=$1 script=$2
	local log=$logdir/${name////_}.log
	[ -n "$FILTER" ] && [[ $name != *"$FILTER"* ]] && return 0
	[ -x "$script" ] || return 0
	BG_T0[$name]=$(date +%s.%N)
	# its exit status and end time into $log.end (it ends long before it is counted)
	( CMOCKA_MESSAGE_OUTPUT=TAP timeout -k 10 "$SUITE_TIMEOUT" "$script" >"$log" 2>&1 < /dev/null
	  echo "$? $(date +%s.%N)" >"$log.end" ) &
	BG_PID[$name]=$!
}

# Waits for the background suites and counts them, each as it ends.
finish_background() {
	local name rc t1 log
	for name in $BACKGROUND; do
		[ -n "${BG_PID[$name]:-}" ] || continue
		log=$logdir/${name////_}.log
		wait "${BG_PID[$name]}"
		read -r rc t1 <"$log.end" 2>/dev/null || { rc=1; t1=$(date +%s.%N); }
		rm -f "$log.end"
		tally_suite "$name" "$rc" "${BG_T0[$name]}" "$t1" "$log"
	done
}
trap 'for p in "${BG_PID[@]}"; do kill -TERM "$p" 2>/dev/null; done' EXIT
for name in $BACKGROUND; do
	start_background "$name" "tests/${name%%/*}/${name#*/}.sh"
done

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	run_suite "unit/$(basename "$t")" "$t"
done
# The adversary/fault suite (tests/sec): every finding of the security review as a test.
for t in "$BUILD"/tests/sec/test_*; do
	[ -x "$t" ] || continue
	run_suite "sec/$(basename "$t")" "$t"
done
for t in tests/sec/*.sh; do
	[ -x "$t" ] || continue
	run_suite "sec/$(basename "$t" .sh)" "$t"
done
for t in tests/sys/*.sh; do
	[ -x "$t" ] || continue
	run_suite "sys/$(basename "$t" .sh)" "$t"
done
for t in tests/lab/*.sh; do
	[ -x "$t" ] || continue
	run_suite "lab/$(basename "$t" .sh)" "$t"
done

finish_background

if [ ${#skips[@]} -gt 0 ]; then
	echo
	echo "skipped (not counted as passed):"
	printf '  SKIP %s\n' "${skips[@]}" | sort | uniq -c | sed 's/^ *1 //'
fi
if [ ${#failures[@]} -gt 0 ]; then
	echo
	echo "failed:"
	printf '  %s\n' "${failures[@]}"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
