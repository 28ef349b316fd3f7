#!/bin/bash
# The full-system NAT matrix, as a user runs it (sudo ./scenarios/nat-matrix.sh, here
# with --no-build and MATRIX_RUNS runs per cell, default 3): for each of the 16 cells
# the Intermediate, a connector behind a_X and an agent behind b_Y must end on the
# path theory expects (direct, or the relay for symmetric x port-restricted/symmetric)
# in every run, with traffic echoed over it. One test per cell, one for the verdict
# and one for the cleanup. The whole output is kept in $BUILD/nat-matrix-system.txt
# (.ci/run prints its table).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh
B=${BUILD:-build}
lab_require 18
tap_plan 18
runs=${MATRIX_RUNS:-3}
out=$B/nat-matrix-system.txt
BUILD=$B ./scenarios/nat-matrix.sh --no-build --runs "$runs" --mode system >"$out" 2>&1 &
pid=$!
wait $pid
rc=$?
n=0
while IFS= read -r line; do
	[[ $line =~ ^\ \ ([ab]_[a-z]+)\ \<-\>\ ([ab]_[a-z]+)\ +([a-z]+)\ +(.*)$ ]] || continue
	n=$((n + 1))
	cell="${BASH_REMATCH[1]} <-> ${BASH_REMATCH[2]}: ${BASH_REMATCH[3]} expected, ${BASH_REMATCH[4]%%  (*}"
	if [[ $line == *'!!'* ]]; then
		tap_fail "$cell" "$line"
	else
		tap_ok "$cell"
	fi
done <"$out"
for ((; n < 16; n++)); do tap_fail "matrix cell missing" "$(tail -n 5 "$out" | tr '\n' '|')"; done
verdict=$(grep '^verdict:' "$out")
[ $rc = 0 ] && [ "${verdict#verdict: PASS}" != "$verdict" ] && tap_ok "nat-matrix.sh (system): $verdict" ||
	tap_fail "nat-matrix.sh (system): exit $rc, ${verdict:-no verdict}"
tap_diag "$(grep '^median time to direct' "$out")"
left=$(ip netns list | grep -c "^ztlab-t$((pid % 100000))n")
[ "$left" = 0 ] && tap_ok "no namespace left by the matrix run" || tap_fail "namespaces left" "$left"
