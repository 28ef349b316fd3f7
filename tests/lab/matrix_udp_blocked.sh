#!/bin/bash
# The NAT matrix with UDP blocked at every NAT, as a user runs it (sudo
# ./scenarios/nat-matrix.sh --udp-blocked, here with --no-build and one run per cell):
# every cell must connect over TLS/TCP at both ends and carry the traffic on the
# relay. One test per cell, one for the verdict, one for the cleanup; the output in
# $BUILD/nat-matrix-udp-blocked.txt.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh
B=${BUILD:-build}
lab_require 18
tap_plan 18
out=$B/nat-matrix-udp-blocked.txt
BUILD=$B ./scenarios/nat-matrix.sh --no-build --runs 1 --mode system --udp-blocked >"$out" 2>&1 &
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
[ $rc = 0 ] && [ "${verdict#verdict: PASS}" != "$verdict" ] && tap_ok "nat-matrix.sh --udp-blocked: $verdict" ||
	tap_fail "nat-matrix.sh --udp-blocked: exit $rc, ${verdict:-no verdict}"
left=$(ip netns list | grep -c "^ztlab-t$((pid % 100000))n")
[ "$left" = 0 ] && tap_ok "no namespace left by the matrix run" || tap_fail "namespaces left" "$left"
