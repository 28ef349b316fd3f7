#!/bin/bash
# Port prediction in the lab, as a user runs it (sudo ./scenarios/sequential-nat.sh,
# here with --no-build and SEQ_RUNS runs per cell, default 2): behind symmetric NATs
# with sequential ports, PRC x SYM, SYM x PRC and SYM x SYM go direct in every run
# with --nat-ports sequential (set from ztna discover's ports=), and stay on the relay
# with --predict off; traffic echoed either way. One test per cell and variant (6),
# one for the verdict (which also covers discover's classification), one for the
# cleanup. The whole output is kept in $BUILD/sequential-nat.txt.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh
B=${BUILD:-build}
lab_require 8
tap_plan 8
runs=${SEQ_RUNS:-2}
out=$B/sequential-nat.txt
BUILD=$B ./scenarios/sequential-nat.sh --no-build --runs "$runs" >"$out" 2>&1 &
pid=$!
wait $pid
rc=$?
n=0
while IFS= read -r line; do
	[[ $line =~ ^\ \ ([ab]_[a-z]+)\ \<-\>\ ([ab]_[a-z]+)\ +expected\ ([a-z]+)\ +(.*)$ ]] || continue
	n=$((n + 1))
	cell="${BASH_REMATCH[1]} <-> ${BASH_REMATCH[2]}: ${BASH_REMATCH[3]} expected, ${BASH_REMATCH[4]%%  (*}"
	if [[ $line == *'!!'* ]]; then
		tap_fail "$cell" "$line"
	else
		tap_ok "$cell"
	fi
done <"$out"
for (( ; n < 6; n++)); do tap_fail "cell missing" "$(tail -n 5 "$out" | tr '\n' '|')"; done
verdict=$(grep '^verdict:' "$out")
[ "$rc" = 0 ] && [ "${verdict#verdict: PASS}" != "$verdict" ] && tap_ok "sequential-nat.sh: $verdict" ||
	tap_fail "sequential-nat.sh: exit $rc, ${verdict:-no verdict}" "$(grep 'FAIL' "$out" | head -n 5 | tr '\n' '|')"
left=$(ip netns list | grep -c "^ztlab-t$((pid % 100000))n")
[ "$left" = 0 ] && tap_ok "no namespace left by the run" || tap_fail "namespaces left" "$left"
